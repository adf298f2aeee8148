/* SPDX-License-Identifier: GPL-2.0 */
/* Records that proc_events.bpf.c writes to its ring buffer and ProcEventSource reads. Shared by
 * the BPF side (types from vmlinux.h) and C++ (include <linux/types.h> first). Fixed-size,
 * naturally aligned, no padding holes. */
#ifndef FLOWSCOPE_AGENT_PROCESS_BPF_PROC_EVENTS_H_
#define FLOWSCOPE_AGENT_PROCESS_BPF_PROC_EVENTS_H_

#define FS_PROC_COMM_LEN 16
#define FS_PROC_FILENAME_LEN 256
#define FS_PROC_ARGS_LEN 512

/* clone(2) flag that makes the child a thread of the caller (linux/sched.h). */
#define FS_PROC_CLONE_THREAD 0x00010000ULL

enum fs_proc_event_kind {
  FS_PROC_EVENT_EXEC = 1,
  FS_PROC_EVENT_FORK = 2,
  FS_PROC_EVENT_EXIT = 3,
};

/* Index of the per-CPU `drops` counters: ring buffer full, per kind (0 unused). */
#define FS_PROC_DROP_SLOTS 4

struct fs_proc_event {
  __u64 ts_boot_ns; /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME */
  __u32 kind;       /* enum fs_proc_event_kind */
  __u32 pid;        /* tgid: exec/exit the process itself, fork the child */
  __u32 ppid;       /* tgid of the parent (fork: of the forking process) */
  __u32 tid;        /* exec: the thread id before exec (old_pid); fork: the forking thread;
                       exit: the last thread of the group */
  __u32 uid;        /* real uid of the current task */
  __s32 exit_code;  /* exit: wait(2) status (exit status << 8, or the signal) */
  char comm[FS_PROC_COMM_LEN];
};

/* FS_PROC_EVENT_EXEC records are this longer struct. */
struct fs_proc_exec_event {
  struct fs_proc_event hdr;
  __u32 filename_len; /* bytes in filename, without the NUL */
  __u32 args_len;     /* bytes of argv (NUL-separated), cut at FS_PROC_ARGS_LEN */
  char filename[FS_PROC_FILENAME_LEN];
  char args[FS_PROC_ARGS_LEN];
};

#endif /* FLOWSCOPE_AGENT_PROCESS_BPF_PROC_EVENTS_H_ */
