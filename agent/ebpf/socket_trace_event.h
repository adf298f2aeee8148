/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The records that bpf/socket_trace.bpf.c writes into its ring buffer, shared by the BPF
 * program (C, vmlinux.h types) and the C++ loader (socket_event.cc). Only fixed-width __uN
 * types, natural alignment, explicit padding: both compilers lay the structs out the same, and
 * static asserts on both sides pin the sizes.
 *
 * A ring record is one `struct fs_sock_event` header followed by `cap_len` payload bytes
 * (FS_EV_DATA only; open/close records have cap_len 0) or one `struct fs_exec_event`
 * (FS_EV_EXEC, internal to the loader). The first byte of every record is its kind.
 */
#ifndef FLOWSCOPE_AGENT_EBPF_SOCKET_TRACE_EVENT_H_
#define FLOWSCOPE_AGENT_EBPF_SOCKET_TRACE_EVENT_H_

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Upper bound of the payload bytes copied per message; the runtime value (rodata
 * `capture_bytes`, default 1024) is at most this. */
#define FS_CAPTURE_MAX 4096
#define FS_COMM_LEN 16
/* sendmmsg/recvmmsg: one data record per message, for at most this many messages per call
 * (the rest are counted in FS_CNT_MMSG_TRUNCATED). */
#define FS_MMSG_MAX 8
/* readv/writev/sendmsg/recvmsg: payload is copied from at most this many iovecs. */
#define FS_IOV_MAX 8

enum fs_event_kind {
  FS_EV_DATA = 1,  /* a message sent or received on a socket (syscall or TLS plaintext) */
  FS_EV_OPEN = 2,  /* connect()/accept() returned, or a socket was first seen mid-stream */
  FS_EV_CLOSE = 3, /* close() of the last descriptor of a traced socket */
  FS_EV_EXEC = 4,  /* sched_process_exec: the loader rescans the new process for libssl */
};

enum fs_direction {
  FS_DIR_EGRESS = 0,  /* the process sent the bytes */
  FS_DIR_INGRESS = 1, /* the process received the bytes */
};

enum fs_role {
  FS_ROLE_UNKNOWN = 0,
  FS_ROLE_CLIENT = 1,
  FS_ROLE_SERVER = 2,
};

/* Which hook produced a record. */
enum fs_func {
  FS_FN_NONE = 0,
  FS_FN_READ = 1,
  FS_FN_WRITE = 2,
  FS_FN_READV = 3,
  FS_FN_WRITEV = 4,
  FS_FN_SENDTO = 5,
  FS_FN_RECVFROM = 6,
  FS_FN_SENDMSG = 7,
  FS_FN_RECVMSG = 8,
  FS_FN_SENDMMSG = 9,
  FS_FN_RECVMMSG = 10,
  FS_FN_CONNECT = 11,
  FS_FN_ACCEPT = 12,
  FS_FN_CLOSE = 13,
  FS_FN_SSL_WRITE = 14,
  FS_FN_SSL_READ = 15,
  FS_FN_SSL_WRITE_EX = 16,
  FS_FN_SSL_READ_EX = 17,
  FS_FN_MAX = 18,
};

/* fs_sock_event.flags */
#define FS_F_TLS 0x1            /* plaintext from an OpenSSL uprobe */
#define FS_F_TLS_CIPHER 0x2     /* syscall bytes of a socket that carries TLS (ciphertext) */
#define FS_F_ROLE_INFERRED 0x4  /* role guessed (socket first seen after connect/accept) */
#define FS_F_SEQ_VALID 0x8      /* tcp_seq is meaningful (TCP syscall records only) */
#define FS_F_ADDR_FROM_MSG 0x10 /* remote address from the call's sockaddr (unconnected UDP) */
#define FS_F_NO_SOCKET 0x20     /* TLS record whose socket was not seen: tuple and socket_id 0 */

struct fs_sock_event {
  __u8 kind;      /* enum fs_event_kind */
  __u8 direction; /* enum fs_direction (FS_EV_DATA) */
  __u8 role;      /* enum fs_role of this process's end of the socket */
  __u8 func;      /* enum fs_func */
  __u16 flags;    /* FS_F_* */
  __u8 family;    /* AF_INET (2) or AF_INET6 (10) of the socket */
  __u8 l4_proto;  /* IPPROTO_TCP (6) or IPPROTO_UDP (17) */
  __u32 pid;      /* tgid */
  __u32 tid;      /* kernel thread id */
  __s32 fd;
  __u32 tcp_seq; /* see README.md "TCP sequence" */
  __u64 ts_ns;   /* bpf_ktime_get_ns() (CLOCK_MONOTONIC): enter time for sends, exit for receives */
  __u64 socket_id;
  __u64 syscall_trace_id;
  __u32 msg_len; /* real length of the message (bytes moved by the call, or by this mmsg entry) */
  __u32 cap_len; /* payload bytes that follow the header */
  __u16 local_port;  /* host order */
  __u16 remote_port; /* host order */
  __u32 pad0;
  __u8 local_addr[16]; /* IPv4 in the first 4 bytes, network order */
  __u8 remote_addr[16];
  char comm[FS_COMM_LEN];
};

struct fs_exec_event {
  __u8 kind; /* FS_EV_EXEC */
  __u8 pad[3];
  __u32 pid;
  char comm[FS_COMM_LEN];
};

/* Per-CPU counters (BPF_MAP_TYPE_PERCPU_ARRAY `counters`), summed by the loader. */
enum fs_counter {
  FS_CNT_DATA_EVENTS = 0,    /* data records written to the ring */
  FS_CNT_OPEN_EVENTS = 1,    /* open records written */
  FS_CNT_CLOSE_EVENTS = 2,   /* close records written */
  FS_CNT_RING_FULL = 3,      /* records lost: ring buffer full */
  FS_CNT_COPY_FAILED = 4,    /* payload or user struct unreadable (record sent without it) */
  FS_CNT_MAP_FULL = 5,       /* a map update failed: call or socket not tracked */
  FS_CNT_NOT_SOCKET = 6,     /* informational: traced calls on files, pipes, ... */
  FS_CNT_NOT_INET = 7,       /* informational: unix, netlink, raw ... sockets skipped */
  FS_CNT_MMSG_TRUNCATED = 8, /* mmsg entries beyond FS_MMSG_MAX not reported */
  FS_CNT_TLS_EVENTS = 9,     /* TLS plaintext data records written */
  FS_CNT_TLS_NO_SOCKET = 10, /* TLS records without a known socket */
  FS_CNT_EXEC_EVENTS = 11,   /* exec records written (TLS library discovery) */
  FS_CNT_MAX = 12,
};

#endif /* FLOWSCOPE_AGENT_EBPF_SOCKET_TRACE_EVENT_H_ */
