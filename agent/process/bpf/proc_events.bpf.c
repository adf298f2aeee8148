// SPDX-License-Identifier: GPL-2.0
// Process lifecycle events for the agent's process table: exec, fork (new processes only, not
// threads) and exit (of the whole thread group), from the sched tracepoints, to one ring buffer.
// CO-RE: the tracepoint records and task_struct are read through vmlinux.h relocations, so the
// object loads on kernels whose layouts differ (e.g. sched_process_fork's comm became
// __data_loc in 6.x, sched_process_exit gained group_dead).
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "agent/process/bpf/proc_events.h"

char LICENSE[] SEC("license") = "GPL";

// proc_events: ring buffer of struct fs_proc_event / proc_exec_event. Writer: the programs below.
// Reader: ProcEventSource (user space), which may resize it before load.
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} proc_events SEC(".maps");

// drops: key = enum fs_proc_event_kind, value = events lost because the ring buffer was full, per
// CPU. Writer: the programs below. Reader: ProcEventSource::Stats().
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FS_PROC_DROP_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

// pending_forks: key = pid_tgid of a thread inside clone(), value = the pid of the new process
// it is creating. Writer: task_newtask (only clones without CLONE_THREAD). Reader and deleter:
// sched_process_fork, which fires right after in the same thread and so only reports processes.
// LRU so that an entry whose fork never completes cannot fill the map.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 8192);
  __type(key, __u64);
  __type(value, __u32);
} pending_forks SEC(".maps");

static __always_inline void count_drop(__u32 kind) {
  __u64 *v = bpf_map_lookup_elem(&drops, &kind);
  if (v) *v += 1;  // per-CPU slot: no other writer
}

static __always_inline void fill_header(struct fs_proc_event *e, __u32 kind) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  __u64 id = bpf_get_current_pid_tgid();
  e->ts_boot_ns = bpf_ktime_get_boot_ns();
  e->kind = kind;
  e->pid = id >> 32;
  e->tid = (__u32)id;
  e->ppid = BPF_CORE_READ(task, real_parent, tgid);
  e->uid = (__u32)bpf_get_current_uid_gid();
  e->exit_code = 0;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
}

SEC("tracepoint/sched/sched_process_exec")
int proc_exec(struct trace_event_raw_sched_process_exec *ctx) {
  struct fs_proc_exec_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
  if (!e) {
    count_drop(FS_PROC_EVENT_EXEC);
    return 0;
  }
  // After exec the task is the group leader again: current's tgid is the process.
  fill_header(&e->hdr, FS_PROC_EVENT_EXEC);
  e->hdr.tid = BPF_CORE_READ(ctx, old_pid);

  __u32 loc = BPF_CORE_READ(ctx, __data_loc_filename);
  long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + (loc & 0xFFFF));
  e->filename_len = n > 0 ? (__u32)(n - 1) : 0;
  if (n <= 0) e->filename[0] = '\0';

  // argv of the new image: [mm->arg_start, mm->arg_end) on its fresh stack.
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  unsigned long start = BPF_CORE_READ(task, mm, arg_start);
  unsigned long end = BPF_CORE_READ(task, mm, arg_end);
  e->args_len = 0;
  if (end > start) {
    // 64-bit length clamped twice around a compiler barrier, so that the verifier sees the
    // bound on the very register passed to the helper.
    __u64 len = end - start;
    if (len > FS_PROC_ARGS_LEN) len = FS_PROC_ARGS_LEN;
    barrier_var(len);
    if (len > FS_PROC_ARGS_LEN) len = FS_PROC_ARGS_LEN;
    if (len > 0 && bpf_probe_read_user(e->args, len, (void *)start) == 0) e->args_len = len;
  }
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tracepoint/task/task_newtask")
int proc_newtask(struct trace_event_raw_task_newtask *ctx) {
  __u64 flags = BPF_CORE_READ(ctx, clone_flags);
  if (flags & FS_PROC_CLONE_THREAD) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 child = BPF_CORE_READ(ctx, pid);
  bpf_map_update_elem(&pending_forks, &id, &child, BPF_ANY);
  return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int proc_fork(struct trace_event_raw_sched_process_fork *ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 child = BPF_CORE_READ(ctx, child_pid);
  __u32 *pending = bpf_map_lookup_elem(&pending_forks, &id);
  if (!pending) return 0;  // a new thread
  __u32 expected = *pending;
  bpf_map_delete_elem(&pending_forks, &id);
  if (expected != child) return 0;

  struct fs_proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
  if (!e) {
    count_drop(FS_PROC_EVENT_FORK);
    return 0;
  }
  fill_header(e, FS_PROC_EVENT_FORK);  // current is the parent: its comm is the child's too
  e->ppid = id >> 32;
  e->pid = child;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int proc_exit(struct trace_event_raw_sched_process_exit *ctx) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  // The process ends when its last thread exits: the kernel says so in group_dead (6.16+);
  // before that, signal->live has dropped to 0 by the time the tracepoint fires (rarely true
  // for two threads exiting together: user space keeps the first exit).
  bool group_dead;
  if (bpf_core_field_exists(ctx->group_dead)) {
    group_dead = BPF_CORE_READ(ctx, group_dead);
  } else {
    group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
  }
  if (!group_dead) return 0;

  struct fs_proc_event *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);
  if (!e) {
    count_drop(FS_PROC_EVENT_EXIT);
    return 0;
  }
  fill_header(e, FS_PROC_EVENT_EXIT);
  int code = BPF_CORE_READ(task, exit_code);
  if (code == 0) code = BPF_CORE_READ(task, signal, group_exit_code);
  e->exit_code = code;
  bpf_ringbuf_submit(e, 0);
  return 0;
}
