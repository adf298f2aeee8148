// SPDX-License-Identifier: GPL-2.0
// Socket tracer: system-call hooks on the calls that move bytes through sockets, plus OpenSSL
// uprobes for TLS plaintext, all writing to one ring buffer (records: socket_trace_event.h).
//
// Only tracepoints and uprobes: the target kernels have no kprobes and refuse fentry/fexit.
// The system calls are hooked with two BTF-typed raw tracepoints, raw_syscalls sys_enter and
// sys_exit, which dispatch on the syscall number: one cheap program call per syscall instead
// of the perf machinery of the per-syscall tracepoints (syscalls/sys_enter_write, ...), which
// cost about twice as much per hit (README.md "Cost"). Kernel structures are read with direct
// BTF loads (task -> files -> fdt -> file -> socket -> sock), not bpf_probe_read_kernel calls.
//
// Receives are hooked at exit only: fd and buffer are still in the saved user registers, and
// the bytes are there when the call returns. Sends and connects are also hooked at entry,
// where the socket is resolved and the entry time and write_seq are kept in the thread's
// task-local storage for the exit (no hash map update or delete per call).
// README.md (same folder) documents the fields, the TCP sequence and syscall_trace_id rules.
// vmlinux.h defines the types the libbpf headers use: it comes first.
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
// clang-format on

#include "agent/ebpf/socket_trace_event.h"

char LICENSE[] SEC("license") = "GPL";

// Macros are not in BTF, hence not in vmlinux.h.
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define MSG_PEEK 2

// Syscall numbers and the saved user registers that hold a syscall's arguments (they are not
// changed by the calls hooked here, so the exit side reads them too).
#if defined(__TARGET_ARCH_x86)
#define NR_READ 0
#define NR_WRITE 1
#define NR_CLOSE 3
#define NR_READV 19
#define NR_WRITEV 20
#define NR_CONNECT 42
#define NR_ACCEPT 43
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#define NR_ACCEPT4 288
#define NR_RECVMMSG 299
#define NR_SENDMMSG 307
#define SYSCALL_NR(regs) ((long)(regs)->orig_ax)
#define SYSCALL_ARG0(regs) ((regs)->di)
#define SYSCALL_ARG1(regs) ((regs)->si)
#define SYSCALL_ARG2(regs) ((regs)->dx)
#define SYSCALL_ARG3(regs) ((regs)->r10)
#define SYSCALL_ARG4(regs) ((regs)->r8)
#elif defined(__TARGET_ARCH_arm64)
#define NR_READ 63
#define NR_WRITE 64
#define NR_CLOSE 57
#define NR_READV 65
#define NR_WRITEV 66
#define NR_CONNECT 203
#define NR_ACCEPT 202
#define NR_SENDTO 206
#define NR_RECVFROM 207
#define NR_SENDMSG 211
#define NR_RECVMSG 212
#define NR_ACCEPT4 242
#define NR_RECVMMSG 243
#define NR_SENDMMSG 269
#define SYSCALL_NR(regs) ((long)(regs)->syscallno)
#define SYSCALL_ARG0(regs) ((regs)->orig_x0)  // x0 holds the return value at exit
#define SYSCALL_ARG1(regs) ((regs)->regs[1])
#define SYSCALL_ARG2(regs) ((regs)->regs[2])
#define SYSCALL_ARG3(regs) ((regs)->regs[3])
#define SYSCALL_ARG4(regs) ((regs)->regs[4])
#else
#error "socket_trace.bpf.c: syscall numbers and registers for this architecture are missing"
#endif

// Kernel pointers held as integers (read through the fd table, or kept between entry and
// exit) become BTF-typed again for direct loads. bpf_rdonly_cast compiles to a register move.
extern void* bpf_rdonly_cast(const void* obj, __u32 btf_id) __ksym;
#define AS_FILE(p) ((struct file*)bpf_rdonly_cast((void*)(p), bpf_core_type_id_kernel(struct file)))
#define AS_SOCKET(p) \
  ((struct socket*)bpf_rdonly_cast((void*)(p), bpf_core_type_id_kernel(struct socket)))
#define AS_SOCK(p) ((struct sock*)bpf_rdonly_cast((void*)(p), bpf_core_type_id_kernel(struct sock)))
#define AS_TCP_SOCK(p) \
  ((struct tcp_sock*)bpf_rdonly_cast((void*)(p), bpf_core_type_id_kernel(struct tcp_sock)))

// ---- configuration, set by the loader before load (rodata: the verifier sees constants) ----
const volatile __u32 self_tgid = 0;              // never trace this process (the agent)
const volatile __u32 target_tgid = 0;            // 0: every process; else only this one
const volatile __u32 capture_bytes = 1024;       // payload bytes per record, <= FS_CAPTURE_MAX
const volatile __u32 ephemeral_port_lo = 32768;  // net.ipv4.ip_local_port_range low end
const volatile __u8 reserve_records = 0;         // 1: bpf_ringbuf_reserve for single-buffer calls
// Wake the reader only once this many bytes wait in the ring (0: on every record). The reader
// polls with a timeout and drains what is there, so a quiet ring is read anyway; a busy one
// costs one wake-up per batch instead of one per record.
const volatile __u32 wakeup_bytes = 0;

// ---- id generators (.data: seeded by the loader with start time << 32 so ids stay unique
// across agent restarts) ----
__u64 next_socket_id = 1;
__u64 next_trace_id = 1;

// ---- maps ----

// Records to user space. Writer: every program. Reader: SocketTracer::Poll. Size set by the
// loader (SocketTracerOptions::ring_bytes).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 22);
} events SEC(".maps");

// Per-thread state (task-local storage: freed with the thread, found through the task without
// hashing). Created by the first send, connect or received message of a thread on an inet
// socket, or by an SSL call. Writer/reader: sys_enter, sys_exit, the SSL uprobes.
struct thread_state {
  __u64 trace_id;  // syscall_trace_id (README.md)
  // The send or connect in flight, resolved at entry (nr -1: none).
  __u64 sk;    // struct sock *
  __u64 file;  // struct file *
  __u64 enter_ts;
  __s32 fd;
  __s32 nr;
  __u32 seq;       // TCP write_seq at entry
  __u8 last_dir;   // direction of the thread's last message (syscall_trace_id)
  __u8 ssl_depth;  // inside an SSL_* call (ssl_calls holds it): saves that lookup otherwise
  __u8 pad[2];
};
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct thread_state);
} threads SEC(".maps");

// Known sockets. Key: struct sock * (a socket's identity while it lives). Writer: connect/accept
// exits, first data on an unknown socket, the TLS path (tls flag). Deleter: close of the last
// descriptor (else LRU eviction). `file` tells a reused sock address from the same socket.
#define SI_TLS 0x1
#define SI_ROLE_INFERRED 0x2
struct sock_info {
  __u64 id;
  __u64 file;
  __u8 role;
  __u8 flags;
  __u8 pad[6];
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 131072);
  __type(key, __u64);
  __type(value, struct sock_info);
} socks SEC(".maps");

// OpenSSL call in flight. Key: pid_tgid. Writer: SSL_* uprobes; the socket syscalls made inside
// the call fill sk/file/fd. Reader/deleter: the uretprobe. LRU: a thread killed inside an SSL
// call never returns, and its entry must not stay forever.
struct ssl_call {
  __u64 ssl;
  __u64 buf;
  __u64 len_ptr;  // size_t * of the _ex variants, 0 otherwise
  __u64 enter_ts;
  __u64 sk;
  __u64 file;
  __s32 fd;
  __u8 func;
  __u8 pad[3];
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct ssl_call);
} ssl_calls SEC(".maps");

// The socket under an SSL object, for SSL calls served from OpenSSL's buffer without a
// syscall. Key: {tgid, SSL *}. Writer: socket syscalls inside an SSL call. Reader: uretprobe.
struct ssl_key {
  __u64 ssl;
  __u32 tgid;
  __u32 pad;
};
struct ssl_sock {
  __u64 sk;
  __u64 file;
  __s32 fd;
  __u32 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct ssl_key);
  __type(value, struct ssl_sock);
} ssl_socks SEC(".maps");

// Record assembly area (the BPF stack is 512 bytes). Twice FS_CAPTURE_MAX so that an iovec
// copy at offset < FS_CAPTURE_MAX of at most FS_CAPTURE_MAX bytes is provably in bounds.
struct event_buf {
  struct fs_sock_event hdr;
  __u8 data[2 * FS_CAPTURE_MAX];
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct event_buf);
} scratch SEC(".maps");

// Drop and activity counters (enum fs_counter). Writer: every program. Reader: loader.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FS_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

// Kernels before 6.13 count file references in f_count (1 = one reference).
struct file___pre613 {
  atomic_long_t f_count;
} __attribute__((preserve_access_index));

// ---- helpers ----

static __always_inline __u64 wakeup_flags(void) {
  if (wakeup_bytes == 0) return 0;
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                       : BPF_RB_NO_WAKEUP;
}

static __always_inline void count(__u32 idx) {
  __u64* v = bpf_map_lookup_elem(&counters, &idx);
  if (v) *v += 1;  // per-CPU: no atomic needed
}

static __always_inline int traced(__u32 tgid) {
  if (tgid == self_tgid) return 0;
  return target_tgid == 0 || tgid == target_tgid;
}

static __always_inline int is_egress(__u8 func) {
  return func == FS_FN_WRITE || func == FS_FN_WRITEV || func == FS_FN_SENDTO ||
         func == FS_FN_SENDMSG || func == FS_FN_SENDMMSG || func == FS_FN_SSL_WRITE ||
         func == FS_FN_SSL_WRITE_EX;
}

struct sock_ref {
  __u64 sk;    // struct sock *
  __u64 file;  // struct file *
  __u16 proto;
};

// fd of the task -> its TCP/UDP inet socket. 0 when fd is not one (counted when `count_skips`).
static __always_inline int fd_to_sock(struct task_struct* task, __s32 fd, struct sock_ref* out,
                                      int count_skips) {
  if (fd < 0) return 0;
  struct fdtable* fdt = task->files->fdt;
  if ((__u32)fd >= fdt->max_fds) return 0;
  struct file** fds = fdt->fd;  // an array of pointers: a plain integer to the verifier
  __u64 fp = 0;
  if (bpf_probe_read_kernel(&fp, sizeof(fp), &fds[fd]) || !fp) return 0;
  struct file* file = AS_FILE(fp);
  if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK) {
    if (count_skips) count(FS_CNT_NOT_SOCKET);
    return 0;
  }
  struct socket* sock = AS_SOCKET(file->private_data);
  struct sock* sk = sock->sk;
  if (!sk) return 0;
  __u16 family = sk->__sk_common.skc_family;
  __u16 type = sk->sk_type;
  __u16 proto = sk->sk_protocol;
  if ((family != AF_INET && family != AF_INET6) ||
      !((type == SOCK_STREAM && proto == IPPROTO_TCP) ||
        (type == SOCK_DGRAM && proto == IPPROTO_UDP))) {
    if (count_skips) count(FS_CNT_NOT_INET);
    return 0;
  }
  out->sk = (__u64)sk;
  out->file = fp;
  out->proto = proto;
  return 1;
}

// The socket's addresses and ports into the record header.
static __always_inline void read_tuple(struct sock* sk, struct fs_sock_event* h) {
  __u16 family = sk->__sk_common.skc_family;
  h->family = (__u8)family;
  h->local_port = sk->__sk_common.skc_num;
  h->remote_port = bpf_ntohs(sk->__sk_common.skc_dport);
  __u32* l = (__u32*)h->local_addr;
  __u32* r = (__u32*)h->remote_addr;
  if (family == AF_INET) {
    l[0] = sk->__sk_common.skc_rcv_saddr;
    r[0] = sk->__sk_common.skc_daddr;
    l[1] = l[2] = l[3] = 0;
    r[1] = r[2] = r[3] = 0;
  } else {
    for (int i = 0; i < 4; i++) {
      l[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
      r[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
    }
  }
}

// Remote address from a user sockaddr (unconnected UDP). Only when the socket has no peer.
static __always_inline void tuple_from_sockaddr(__u64 uaddr, struct fs_sock_event* h) {
  if (!uaddr || h->remote_port != 0) return;
  __u16 family = 0;
  if (bpf_probe_read_user(&family, sizeof(family), (void*)uaddr)) return;
  if (family == AF_INET && h->family == AF_INET) {
    struct sockaddr_in sin = {};
    if (bpf_probe_read_user(&sin, sizeof(sin), (void*)uaddr)) return;
    __builtin_memcpy(h->remote_addr, &sin.sin_addr, 4);
    h->remote_port = bpf_ntohs(sin.sin_port);
    h->flags |= FS_F_ADDR_FROM_MSG;
  } else if (family == AF_INET6 && h->family == AF_INET6) {
    struct sockaddr_in6 sin6 = {};
    if (bpf_probe_read_user(&sin6, sizeof(sin6), (void*)uaddr)) return;
    __builtin_memcpy(h->remote_addr, &sin6.sin6_addr, 16);
    h->remote_port = bpf_ntohs(sin6.sin6_port);
    h->flags |= FS_F_ADDR_FROM_MSG;
  }
}

// Role of a socket first seen mid-stream. TCP and connected UDP: the end on an ephemeral port
// facing a non-ephemeral one is the client, and the reverse the server; otherwise the lower
// port is taken as the server's. Unconnected UDP: the end that sends first is the client.
static __always_inline __u8 infer_role(__u16 lport, __u16 rport, __u16 proto, int egress) {
  if (proto == IPPROTO_UDP && rport == 0) return egress ? FS_ROLE_CLIENT : FS_ROLE_SERVER;
  int l_eph = lport >= ephemeral_port_lo, r_eph = rport >= ephemeral_port_lo;
  if (l_eph && !r_eph) return FS_ROLE_CLIENT;
  if (!l_eph && r_eph) return FS_ROLE_SERVER;
  if (lport < rport) return FS_ROLE_SERVER;
  if (lport > rport) return FS_ROLE_CLIENT;
  return FS_ROLE_UNKNOWN;
}

static __always_inline void fill_task(struct fs_sock_event* h, __u64 pid_tgid) {
  h->pid = pid_tgid >> 32;
  h->tid = (__u32)pid_tgid;
  bpf_get_current_comm(h->comm, sizeof(h->comm));
}

// Writes an open or close record for a socket (header only).
static __always_inline void emit_lifecycle(__u8 kind, __u8 func, __u64 sk, __s32 fd,
                                           __u16 proto, const struct sock_info* si) {
  __u32 zero = 0;
  struct event_buf* e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e) return;
  struct fs_sock_event* h = &e->hdr;
  __builtin_memset(h, 0, sizeof(*h));
  h->kind = kind;
  h->func = func;
  h->role = si->role;
  h->l4_proto = (__u8)proto;
  h->flags = (si->flags & SI_ROLE_INFERRED) ? FS_F_ROLE_INFERRED : 0;
  if (si->flags & SI_TLS) h->flags |= FS_F_TLS_CIPHER;
  h->fd = fd;
  h->socket_id = si->id;
  h->ts_ns = bpf_ktime_get_ns();
  fill_task(h, bpf_get_current_pid_tgid());
  read_tuple(AS_SOCK(sk), h);
  if (bpf_ringbuf_output(&events, h, sizeof(*h), wakeup_flags())) {
    count(FS_CNT_RING_FULL);
    return;
  }
  count(kind == FS_EV_OPEN ? FS_CNT_OPEN_EVENTS : FS_CNT_CLOSE_EVENTS);
}

// Registers a socket (new id) with an explicit role, or updates the role of a known one.
static __always_inline void register_socket(struct sock_ref* ref, __s32 fd, __u8 role, __u8 func,
                                            int force_new) {
  __u64 key = ref->sk;
  struct sock_info* old = bpf_map_lookup_elem(&socks, &key);
  struct sock_info si = {};
  if (old && !force_new && old->file == ref->file) {
    si = *old;
  } else {
    si.id = __sync_fetch_and_add(&next_socket_id, 1);
    si.file = ref->file;
  }
  si.role = role;
  si.flags &= ~SI_ROLE_INFERRED;
  if (bpf_map_update_elem(&socks, &key, &si, BPF_ANY)) {
    count(FS_CNT_MAP_FULL);
    return;
  }
  emit_lifecycle(FS_EV_OPEN, func, ref->sk, fd, ref->proto, &si);
}

// The socket's info, creating it (role inferred, open record) on first sight.
static __always_inline struct sock_info* socket_info(__u64 skp, __u64 file, __s32 fd,
                                                     __u16 proto, int egress, __u8 func) {
  __u64 key = skp;
  struct sock_info* si = bpf_map_lookup_elem(&socks, &key);
  if (si && si->file == file) return si;
  struct sock* sk = AS_SOCK(skp);
  struct sock_info n = {};
  n.id = __sync_fetch_and_add(&next_socket_id, 1);
  n.file = file;
  __u16 lport = sk->__sk_common.skc_num;
  __u16 rport = bpf_ntohs(sk->__sk_common.skc_dport);
  n.role = infer_role(lport, rport, proto, egress);
  n.flags = SI_ROLE_INFERRED;
  if (bpf_map_update_elem(&socks, &key, &n, BPF_ANY)) {
    count(FS_CNT_MAP_FULL);
    return NULL;
  }
  emit_lifecycle(FS_EV_OPEN, func, skp, fd, proto, &n);
  return bpf_map_lookup_elem(&socks, &key);
}

// syscall_trace_id: an ingress message starts a new id unless the thread's previous message
// was ingress too; an egress message carries the thread's current id (0 if none yet).
// Syscalls made inside an SSL call (ciphertext) read the id without changing the state: the
// plaintext record of the SSL call decides. `t` is the thread's state (NULL: none and none
// could be created).
static __always_inline __u64 syscall_trace_id(struct thread_state* t, int egress, int passive) {
  if (passive) return t ? t->trace_id : 0;
  if (egress) {
    if (!t) return 0;
    t->last_dir = FS_DIR_EGRESS;
    return t->trace_id;
  }
  if (t && t->last_dir == FS_DIR_INGRESS && t->trace_id) return t->trace_id;
  __u64 id = __sync_fetch_and_add(&next_trace_id, 1);
  if (!t) {
    count(FS_CNT_MAP_FULL);
    return id;
  }
  t->trace_id = id;
  t->last_dir = FS_DIR_INGRESS;
  return id;
}

static __always_inline struct thread_state* thread_state(struct task_struct* task, int create) {
  struct thread_state* t =
      bpf_task_storage_get(&threads, task, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
  return t;
}

static __always_inline __u32 clamp_cap(__u64 len) {
  __u64 n = len;
  if (n > capture_bytes) n = capture_bytes;
  if (n > FS_CAPTURE_MAX) n = FS_CAPTURE_MAX;
  return (__u32)n;
}

// A data call as the exit side sees it: resolved at entry (sends) or at exit (receives).
struct sys_args {
  __u64 sk;    // struct sock *
  __u64 file;  // struct file *
  __u64 buf;   // buffer, iovec array, user_msghdr or mmsghdr array (by func)
  __u64 addr;  // sockaddr of sendto/recvfrom, 0 if none
  __u64 enter_ts;
  __s32 fd;
  __u32 vlen;  // iovec count (readv/writev)
  __u32 seq;   // TCP sequence of the message's first byte
  __u8 func;
  __u8 pad[3];
};

// Copies up to `want` bytes from one user buffer to the start of `dst`. Returns bytes copied.
static __always_inline __u32 copy_buf(__u8* dst, __u64 ubuf, __u32 want) {
  __u64 n = want;
  if (n > FS_CAPTURE_MAX) n = FS_CAPTURE_MAX;
  barrier_var(n);
  if (n > FS_CAPTURE_MAX) n = FS_CAPTURE_MAX;
  if (n == 0) return 0;
  if (bpf_probe_read_user(dst, n, (void*)ubuf)) {
    count(FS_CNT_COPY_FAILED);
    return 0;
  }
  return (__u32)n;
}

// Copies up to `want` bytes gathered from an iovec array. Returns bytes copied. A global
// function: the verifier checks it once, not once per call site and path.
__noinline int copy_iov(struct event_buf* e, __u64 uiov, __u32 iovcnt, __u32 want) {
  if (!e) return 0;
  __u32 off = 0;
  for (int i = 0; i < FS_IOV_MAX; i++) {
    if (i >= iovcnt || off >= want) break;
    struct iovec iov = {};
    if (bpf_probe_read_user(&iov, sizeof(iov), (void*)(uiov + i * sizeof(struct iovec)))) {
      count(FS_CNT_COPY_FAILED);
      break;
    }
    __u64 n = iov.iov_len;
    if (n > want - off) n = want - off;
    if (n > FS_CAPTURE_MAX) n = FS_CAPTURE_MAX;
    barrier_var(n);
    if (n > FS_CAPTURE_MAX) n = FS_CAPTURE_MAX;
    if (off >= FS_CAPTURE_MAX) break;
    if (n == 0) continue;
    // A mask (not a compare) bounds the offset in the register the verifier checks.
    __u64 o = off;
    barrier_var(o);
    o &= FS_CAPTURE_MAX - 1;
    if (bpf_probe_read_user(&e->data[o], n, iov.iov_base)) {
      count(FS_CNT_COPY_FAILED);
      break;
    }
    off += (__u32)n;
  }
  return off;
}

// Common header of a data record for `sk`.
static __always_inline void fill_data_header(struct fs_sock_event* h, __u64 pid_tgid, __u64 sk,
                                             __s32 fd, __u16 proto, __u8 func,
                                             const struct sock_info* si) {
  h->kind = FS_EV_DATA;
  h->func = func;
  h->direction = is_egress(func) ? FS_DIR_EGRESS : FS_DIR_INGRESS;
  h->l4_proto = (__u8)proto;
  h->fd = fd;
  h->role = si ? si->role : FS_ROLE_UNKNOWN;
  h->socket_id = si ? si->id : 0;
  h->flags = 0;
  if (si && (si->flags & SI_ROLE_INFERRED)) h->flags |= FS_F_ROLE_INFERRED;
  if (si && (si->flags & SI_TLS)) h->flags |= FS_F_TLS_CIPHER;
  fill_task(h, pid_tgid);
  read_tuple(AS_SOCK(sk), h);
}

// Size of a record with `cap` payload bytes (cap <= FS_CAPTURE_MAX). The mask, applied to a
// value the compiler cannot see through, proves to the verifier that the record stays inside
// `scratch` (compares get optimised onto a copy of the register that was not bounded).
static __always_inline __u64 record_size(__u64 cap) {
  barrier_var(cap);
  cap &= 2 * FS_CAPTURE_MAX - 1;
  return sizeof(struct fs_sock_event) + cap;
}

static __always_inline void submit(struct event_buf* e) {
  if (bpf_ringbuf_output(&events, e, record_size(e->hdr.cap_len), wakeup_flags())) {
    count(FS_CNT_RING_FULL);
    return;
  }
  count(FS_CNT_DATA_EVENTS);
}

// If the thread is inside an SSL call, ties the call (and its SSL object) to this socket and
// marks the socket as carrying TLS. Returns 1 when inside an SSL call.
static __always_inline int note_ssl_socket(__u64 pid_tgid, struct thread_state* t,
                                           struct sys_args* a, struct sock_info* si) {
  if (!t || !t->ssl_depth) return 0;
  struct ssl_call* c = bpf_map_lookup_elem(&ssl_calls, &pid_tgid);
  if (!c) return 0;
  c->sk = a->sk;
  c->file = a->file;
  c->fd = a->fd;
  struct ssl_key k = {.ssl = c->ssl, .tgid = pid_tgid >> 32};
  struct ssl_sock v = {.sk = a->sk, .file = a->file, .fd = a->fd};
  bpf_map_update_elem(&ssl_socks, &k, &v, BPF_ANY);
  if (si) si->flags |= SI_TLS;
  return 1;
}

// mmsghdr-array calls: one record per message (at most FS_MMSG_MAX).
static __always_inline void emit_mmsg(struct sys_args* a, struct thread_state* t, long ret,
                                      __u64 pid_tgid,
                                      struct sock_info* si, int in_ssl, __u64 now) {
  __u32 zero = 0;
  int egress = is_egress(a->func);
  if (ret > FS_MMSG_MAX) {
    __u32 idx = FS_CNT_MMSG_TRUNCATED;
    __u64* v = bpf_map_lookup_elem(&counters, &idx);
    if (v) *v += ret - FS_MMSG_MAX;
  }
  for (int i = 0; i < FS_MMSG_MAX; i++) {
    if (i >= ret) break;
    struct mmsghdr m = {};
    if (bpf_probe_read_user(&m, sizeof(m), (void*)(a->buf + i * sizeof(struct mmsghdr)))) {
      count(FS_CNT_COPY_FAILED);
      break;
    }
    struct event_buf* e = bpf_map_lookup_elem(&scratch, &zero);
    if (!e) return;
    struct fs_sock_event* h = &e->hdr;
    fill_data_header(h, pid_tgid, a->sk, a->fd, IPPROTO_UDP, a->func, si);
    if (in_ssl) h->flags |= FS_F_TLS_CIPHER;
    h->ts_ns = egress ? a->enter_ts : now;
    h->msg_len = m.msg_len;
    h->tcp_seq = 0;
    h->syscall_trace_id = syscall_trace_id(t, egress, in_ssl);
    tuple_from_sockaddr((__u64)m.msg_hdr.msg_name, h);
    __u32 want = clamp_cap(m.msg_len);
    h->cap_len = copy_iov(e, (__u64)m.msg_hdr.msg_iov, (__u32)m.msg_hdr.msg_iovlen, want);
    submit(e);
  }
}

// Single-buffer calls through a directly reserved ring record (reserve_records=1): the
// alternative to assembling in `scratch` and copying with bpf_ringbuf_output.
static __always_inline int emit_reserved(struct sys_args* a, struct thread_state* t, long ret,
                                         __u64 pid_tgid,
                                         struct sock_info* si, int in_ssl, __u64 now, __u16 proto) {
  // capture_bytes is rodata, hence a constant to the verifier, as reserve requires.
  struct event_buf* e =
      bpf_ringbuf_reserve(&events, sizeof(struct fs_sock_event) + capture_bytes, 0);
  if (!e) {
    count(FS_CNT_RING_FULL);
    return 0;
  }
  int egress = is_egress(a->func);
  struct fs_sock_event* h = &e->hdr;
  h->pad0 = 0;
  fill_data_header(h, pid_tgid, a->sk, a->fd, proto, a->func, si);
  if (in_ssl) h->flags |= FS_F_TLS_CIPHER;
  h->ts_ns = egress ? a->enter_ts : now;
  h->msg_len = (__u32)ret;
  h->tcp_seq = a->seq;
  if (proto == IPPROTO_TCP) h->flags |= FS_F_SEQ_VALID;
  h->syscall_trace_id = syscall_trace_id(t, egress, in_ssl);
  tuple_from_sockaddr(a->addr, h);
  __u64 n = (__u64)ret;
  if (n > capture_bytes) n = capture_bytes;
  barrier_var(n);
  if (n > capture_bytes) n = capture_bytes;
  h->cap_len = 0;
  if (n && bpf_probe_read_user(e->data, n, (void*)a->buf) == 0)
    h->cap_len = (__u32)n;
  else if (n)
    count(FS_CNT_COPY_FAILED);
  bpf_ringbuf_submit(e, wakeup_flags());
  count(FS_CNT_DATA_EVENTS);
  return 1;
}

// How a call passes its payload; a constant at each call site so that the exit program holds
// one copy of the code per shape (the verifier walks far fewer paths).
enum io_shape { SHAPE_BUF, SHAPE_IOV, SHAPE_MSG, SHAPE_MMSG };

static __always_inline int exit_io(struct task_struct* task, struct pt_regs* regs, long nr,
                                   long ret, const enum io_shape shape, __u8 func) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid >> 32)) return 0;
  int egress = is_egress(func);
  struct thread_state* t = thread_state(task, 0);
  struct sys_args a = {};
  int entered = 0;
  if (egress && t && t->nr == nr) {
    t->nr = -1;
    a.sk = t->sk;
    a.file = t->file;
    a.fd = t->fd;
    a.enter_ts = t->enter_ts;
    a.seq = t->seq;
    entered = 1;
  }
  if (ret <= 0) return 0;
  a.func = func;
  a.buf = SYSCALL_ARG1(regs);
  if (shape == SHAPE_IOV) a.vlen = (__u32)SYSCALL_ARG2(regs);
  if (shape == SHAPE_BUF) a.addr = SYSCALL_ARG4(regs);  // sendto/recvfrom; read/write: unused
  if (func == FS_FN_READ || func == FS_FN_WRITE) a.addr = 0;
  __u64 now = 0;
  __u16 proto;
  if (entered) {
    proto = AS_SOCK(a.sk)->sk_protocol;
  } else {
    // A receive, or a send whose entry was not seen (tracer attached meanwhile).
    struct sock_ref ref = {};
    a.fd = (__s32)SYSCALL_ARG0(regs);
    if (!fd_to_sock(task, a.fd, &ref, 1)) return 0;
    a.sk = ref.sk;
    a.file = ref.file;
    proto = ref.proto;
    now = bpf_ktime_get_ns();
    a.enter_ts = now;
    if (proto == IPPROTO_TCP) {
      // The sequence counters have moved past this call's bytes: step back (not for
      // MSG_PEEK, which leaves copied_seq where it was).
      struct tcp_sock* tp = AS_TCP_SOCK(a.sk);
      if (egress) {
        a.seq = tp->write_seq - (__u32)ret;
      } else {
        __u64 flags = 0;
        if (func == FS_FN_RECVFROM) flags = SYSCALL_ARG3(regs);
        if (func == FS_FN_RECVMSG) flags = SYSCALL_ARG2(regs);
        a.seq = tp->copied_seq - ((flags & MSG_PEEK) ? 0 : (__u32)ret);
      }
    }
  }
  if (!egress && !t) t = thread_state(task, 1);  // ingress starts a syscall_trace_id
  struct sock_info* si = socket_info(a.sk, a.file, a.fd, proto, egress, func);
  int in_ssl = note_ssl_socket(pid_tgid, t, &a, si);

  if (shape == SHAPE_MMSG) {
    emit_mmsg(&a, t, ret, pid_tgid, si, in_ssl, now);
    return 0;
  }
  __u64 iov = 0;
  __u32 iovcnt = 0;
  if (shape == SHAPE_IOV) {
    iov = a.buf;
    iovcnt = a.vlen;
  } else if (shape == SHAPE_MSG) {
    struct user_msghdr m = {};
    if (bpf_probe_read_user(&m, sizeof(m), (void*)a.buf)) {
      count(FS_CNT_COPY_FAILED);
    } else {
      iov = (__u64)m.msg_iov;
      iovcnt = (__u32)m.msg_iovlen;
      a.addr = (__u64)m.msg_name;
    }
  } else if (reserve_records) {
    if (emit_reserved(&a, t, ret, pid_tgid, si, in_ssl, now, proto)) return 0;
  }

  __u32 zero = 0;
  struct event_buf* e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e) return 0;
  struct fs_sock_event* h = &e->hdr;
  fill_data_header(h, pid_tgid, a.sk, a.fd, proto, func, si);
  if (in_ssl) h->flags |= FS_F_TLS_CIPHER;
  h->ts_ns = egress ? a.enter_ts : now;
  h->msg_len = ret > 0xffffffffL ? 0xffffffffU : (__u32)ret;
  h->tcp_seq = proto == IPPROTO_TCP ? a.seq : 0;
  if (proto == IPPROTO_TCP) h->flags |= FS_F_SEQ_VALID;
  h->syscall_trace_id = syscall_trace_id(t, egress, in_ssl);
  tuple_from_sockaddr(a.addr, h);
  __u32 want = clamp_cap((__u64)ret);
  if (shape == SHAPE_BUF)
    h->cap_len = copy_buf(e->data, a.buf, want);
  else
    h->cap_len = iov ? copy_iov(e, iov, iovcnt, want) : 0;
  submit(e);
  return 0;
}

// connect: success or EINPROGRESS (non-blocking) makes the socket resolved at entry a client
// socket with a fresh id... unless it is a UDP socket already known (re-connect), which keeps
// its id.
static __always_inline int exit_connect(struct task_struct* task, long nr, long ret) {
  struct thread_state* t = thread_state(task, 0);
  if (!t || t->nr != nr) return 0;
  t->nr = -1;
  if (ret != 0 && ret != -EINPROGRESS) return 0;
  struct sock_ref ref = {.sk = t->sk, .file = t->file};
  ref.proto = AS_SOCK(ref.sk)->sk_protocol;
  register_socket(&ref, t->fd, FS_ROLE_CLIENT, FS_FN_CONNECT, ref.proto == IPPROTO_TCP);
  return 0;
}

// accept/accept4: the returned fd is a new server-side socket.
static __always_inline int exit_accept(struct task_struct* task, long ret) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (ret < 0 || !traced(pid_tgid >> 32)) return 0;
  struct sock_ref ref = {};
  if (!fd_to_sock(task, (__s32)ret, &ref, 0)) return 0;
  register_socket(&ref, (__s32)ret, FS_ROLE_SERVER, FS_FN_ACCEPT, 1);
  return 0;
}

// close: when this is the socket's last file reference (not a dup()ed or inherited copy), the
// socket ends: close record, id forgotten.
static __always_inline int enter_close(struct task_struct* task, __s32 fd) {
  struct sock_ref ref = {};
  if (!fd_to_sock(task, fd, &ref, 0)) return 0;
  __u64 key = ref.sk;
  struct sock_info* si = bpf_map_lookup_elem(&socks, &key);
  if (!si || si->file != ref.file) return 0;
  long refs;
  struct file* file = AS_FILE(ref.file);
  if (bpf_core_field_exists(file->f_ref)) {
    refs = file->f_ref.refcnt.counter + 1;  // file_ref_t stores count - 1
  } else {
    struct file___pre613* old = (void*)file;
    refs = BPF_CORE_READ(old, f_count.counter);
  }
  if (refs > 1) return 0;
  struct sock_info copy = *si;
  bpf_map_delete_elem(&socks, &key);
  emit_lifecycle(FS_EV_CLOSE, FS_FN_CLOSE, ref.sk, fd, ref.proto, &copy);
  return 0;
}

// ---- system calls ----
// raw_syscalls/sys_enter(regs, nr) and sys_exit(regs, ret) fire for every system call of every
// process; both return after a compare for the calls not handled here.

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs* regs, long nr) {
  __u8 func;
  switch (nr) {
    case NR_WRITE: func = FS_FN_WRITE; break;
    case NR_WRITEV: func = FS_FN_WRITEV; break;
    case NR_SENDTO: func = FS_FN_SENDTO; break;
    case NR_SENDMSG: func = FS_FN_SENDMSG; break;
    case NR_SENDMMSG: func = FS_FN_SENDMMSG; break;
    case NR_CONNECT: func = FS_FN_CONNECT; break;
    case NR_CLOSE: func = FS_FN_CLOSE; break;
    default: return 0;
  }
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid >> 32)) return 0;
  struct task_struct* task = bpf_get_current_task_btf();
  __s32 fd = (__s32)SYSCALL_ARG0(regs);
  if (func == FS_FN_CLOSE) return enter_close(task, fd);
  // Sends and connects: resolve the socket now, keep what the exit needs.
  struct sock_ref ref = {};
  if (!fd_to_sock(task, fd, &ref, 0)) {
    struct thread_state* t = thread_state(task, 0);
    if (t) t->nr = -1;  // no stale call for the exit to pick up
    return 0;
  }
  struct thread_state* t = thread_state(task, 1);
  if (!t) {
    count(FS_CNT_MAP_FULL);
    return 0;
  }
  t->nr = (__s32)nr;
  t->sk = ref.sk;
  t->file = ref.file;
  t->fd = fd;
  t->enter_ts = bpf_ktime_get_ns();
  // write_seq: the sequence number the first byte queued by this call gets.
  t->seq = (ref.proto == IPPROTO_TCP && func != FS_FN_CONNECT) ? AS_TCP_SOCK(ref.sk)->write_seq
                                                                : 0;
  return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs* regs, long ret) {
  long nr = SYSCALL_NR(regs);
  enum io_shape shape;
  __u8 func;
  switch (nr) {
    case NR_READ: shape = SHAPE_BUF; func = FS_FN_READ; break;
    case NR_WRITE: shape = SHAPE_BUF; func = FS_FN_WRITE; break;
    case NR_SENDTO: shape = SHAPE_BUF; func = FS_FN_SENDTO; break;
    case NR_RECVFROM: shape = SHAPE_BUF; func = FS_FN_RECVFROM; break;
    case NR_READV: shape = SHAPE_IOV; func = FS_FN_READV; break;
    case NR_WRITEV: shape = SHAPE_IOV; func = FS_FN_WRITEV; break;
    case NR_SENDMSG: shape = SHAPE_MSG; func = FS_FN_SENDMSG; break;
    case NR_RECVMSG: shape = SHAPE_MSG; func = FS_FN_RECVMSG; break;
    case NR_SENDMMSG: shape = SHAPE_MMSG; func = FS_FN_SENDMMSG; break;
    case NR_RECVMMSG: shape = SHAPE_MMSG; func = FS_FN_RECVMMSG; break;
    case NR_CONNECT: return exit_connect(bpf_get_current_task_btf(), nr, ret);
    case NR_ACCEPT:
    case NR_ACCEPT4: return exit_accept(bpf_get_current_task_btf(), ret);
    default: return 0;
  }
  struct task_struct* task = bpf_get_current_task_btf();
  if (shape == SHAPE_BUF) return exit_io(task, regs, nr, ret, SHAPE_BUF, func);
  if (shape == SHAPE_IOV) return exit_io(task, regs, nr, ret, SHAPE_IOV, func);
  if (shape == SHAPE_MSG) return exit_io(task, regs, nr, ret, SHAPE_MSG, func);
  return exit_io(task, regs, nr, ret, SHAPE_MMSG, func);
}

// New programs: the loader looks for TLS libraries they map.
SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(struct trace_event_raw_sched_process_exec* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid >> 32)) return 0;
  struct fs_exec_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(FS_CNT_RING_FULL);
    return 0;
  }
  e->kind = FS_EV_EXEC;
  e->pad[0] = e->pad[1] = e->pad[2] = 0;
  e->pid = pid_tgid >> 32;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, wakeup_flags());
  count(FS_CNT_EXEC_EVENTS);
  return 0;
}

// ---- OpenSSL uprobes ----
// int SSL_write(SSL *s, const void *buf, int num);
// int SSL_read(SSL *s, void *buf, int num);
// int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written);
// int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes);
// The buffer is saved at entry and read at return, when it holds the plaintext.

static __always_inline int ssl_enter(void* ssl, const void* buf, void* len_ptr, __u8 func) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid >> 32)) return 0;
  struct ssl_call c = {};
  c.ssl = (__u64)ssl;
  c.buf = (__u64)buf;
  c.len_ptr = (__u64)len_ptr;
  c.enter_ts = bpf_ktime_get_ns();
  c.fd = -1;
  c.func = func;
  if (bpf_map_update_elem(&ssl_calls, &pid_tgid, &c, BPF_ANY)) {
    count(FS_CNT_MAP_FULL);
    return 0;
  }
  // Tells the socket syscalls made inside the call to look the call up.
  struct thread_state* t = thread_state(bpf_get_current_task_btf(), 1);
  if (t) t->ssl_depth = 1;
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void* ssl, const void* buf, int num) {
  return ssl_enter(ssl, buf, NULL, FS_FN_SSL_WRITE);
}
SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void* ssl, void* buf, int num) {
  return ssl_enter(ssl, buf, NULL, FS_FN_SSL_READ);
}
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void* ssl, const void* buf, __u64 num, __u64* written) {
  return ssl_enter(ssl, buf, written, FS_FN_SSL_WRITE_EX);
}
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void* ssl, void* buf, __u64 num, __u64* readbytes) {
  return ssl_enter(ssl, buf, readbytes, FS_FN_SSL_READ_EX);
}

// One return probe for the four functions: the saved call says which one returned.
SEC("uretprobe")
int BPF_KRETPROBE(ssl_exit, int ret) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct ssl_call* p = bpf_map_lookup_elem(&ssl_calls, &pid_tgid);
  if (!p) return 0;
  struct ssl_call c = *p;
  bpf_map_delete_elem(&ssl_calls, &pid_tgid);
  struct task_struct* task = bpf_get_current_task_btf();
  struct thread_state* t = thread_state(task, 0);
  if (t) t->ssl_depth = 0;
  __u64 len = 0;
  if (c.len_ptr) {
    if (ret != 1 || bpf_probe_read_user(&len, sizeof(len), (void*)c.len_ptr)) return 0;
  } else {
    if (ret <= 0) return 0;
    len = (__u64)ret;
  }
  if (len == 0) return 0;
  __u64 now = bpf_ktime_get_ns();
  if (!c.sk) {
    struct ssl_key k = {.ssl = c.ssl, .tgid = pid_tgid >> 32};
    struct ssl_sock* s = bpf_map_lookup_elem(&ssl_socks, &k);
    if (s) {
      c.sk = s->sk;
      c.file = s->file;
      c.fd = s->fd;
    }
  }
  int egress = is_egress(c.func);
  struct sock_info* si = NULL;
  __u16 proto = 0;
  if (c.sk) {
    proto = AS_SOCK(c.sk)->sk_protocol;
    si = socket_info(c.sk, c.file, c.fd, proto, egress, c.func);
    if (si) si->flags |= SI_TLS;
  }
  // After socket_info: its open record also assembles in `scratch`.
  __u32 zero = 0;
  struct event_buf* e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e) return 0;
  struct fs_sock_event* h = &e->hdr;
  if (c.sk) {
    fill_data_header(h, pid_tgid, c.sk, c.fd, proto, c.func, si);
    h->flags &= ~FS_F_TLS_CIPHER;
  } else {
    __builtin_memset(h, 0, sizeof(*h));
    h->kind = FS_EV_DATA;
    h->func = c.func;
    h->direction = egress ? FS_DIR_EGRESS : FS_DIR_INGRESS;
    h->fd = -1;
    h->flags = FS_F_NO_SOCKET;
    fill_task(h, pid_tgid);
    count(FS_CNT_TLS_NO_SOCKET);
  }
  h->flags |= FS_F_TLS;
  h->ts_ns = egress ? c.enter_ts : now;
  h->msg_len = len > 0xffffffffULL ? 0xffffffffU : (__u32)len;
  h->tcp_seq = 0;
  if (!egress && !t) t = thread_state(task, 1);
  h->syscall_trace_id = syscall_trace_id(t, egress, 0);
  h->cap_len = copy_buf(e->data, c.buf, clamp_cap(len));
  if (bpf_ringbuf_output(&events, e, record_size(h->cap_len), wakeup_flags())) {
    count(FS_CNT_RING_FULL);
    return 0;
  }
  count(FS_CNT_TLS_EVENTS);
  return 0;
}
