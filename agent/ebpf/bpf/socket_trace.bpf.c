// SPDX-License-Identifier: GPL-2.0
// Socket tracer: syscall tracepoints on the calls that move bytes through sockets, plus OpenSSL
// uprobes for TLS plaintext, all writing to one ring buffer (records: socket_trace_event.h).
//
// Only tracepoints and uprobes: the target kernels have no kprobes and refuse fentry/fexit.
// Every *_enter program resolves fd -> struct file -> struct socket -> struct sock through the
// task's fd table (CO-RE) and keeps the call's arguments per thread only when the fd is an
// AF_INET/AF_INET6 TCP or UDP socket; the *_exit program emits when the call moved bytes.
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

// Arguments of a socket call in flight. Key: pid_tgid. Writer: *_enter (sockets only).
// Reader/deleter: *_exit.
struct sys_args {
  __u64 sk;    // struct sock *
  __u64 file;  // struct file *
  __u64 buf;   // buffer, iovec array, user_msghdr or mmsghdr array (by func)
  __u64 addr;  // sockaddr of sendto/recvfrom, 0 if none
  __u64 enter_ts;
  __s32 fd;
  __u32 vlen;  // iovec count (readv/writev)
  __u32 seq;   // TCP write_seq (send) or copied_seq (receive) at entry
  __u8 func;
  __u8 pad[3];
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct sys_args);
} args_map SEC(".maps");

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

// syscall_trace_id state per thread. Key: pid_tgid. Writer/reader: every data record.
struct thread_trace {
  __u64 id;
  __u8 last_dir;
  __u8 pad[7];
};
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct thread_trace);
} threads SEC(".maps");

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
  struct sock* sk;
  struct file* file;
  __u16 proto;
};

// fd of the current task -> its TCP/UDP inet socket. 0 when fd is not one.
static __always_inline int fd_to_sock(__s32 fd, struct sock_ref* out) {
  if (fd < 0) return 0;
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return 0;
  __u32 max_fds = BPF_CORE_READ(fdt, max_fds);
  if ((__u32)fd >= max_fds) return 0;
  struct file** fds = BPF_CORE_READ(fdt, fd);
  struct file* file = NULL;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file) return 0;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) {
    count(FS_CNT_NOT_SOCKET);
    return 0;
  }
  struct socket* sock = BPF_CORE_READ(file, private_data);
  struct sock* sk = BPF_CORE_READ(sock, sk);
  if (!sk) return 0;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  __u16 type = BPF_CORE_READ(sk, sk_type);
  __u16 proto = BPF_CORE_READ(sk, sk_protocol);
  if ((family != AF_INET && family != AF_INET6) ||
      !((type == SOCK_STREAM && proto == IPPROTO_TCP) ||
        (type == SOCK_DGRAM && proto == IPPROTO_UDP))) {
    count(FS_CNT_NOT_INET);
    return 0;
  }
  out->sk = sk;
  out->file = file;
  out->proto = proto;
  return 1;
}

// Sequence number of the first byte of the next message: write_seq for sends (next byte the
// application queues), copied_seq for receives (next byte the application reads).
static __always_inline __u32 tcp_seq_at_entry(struct sock* sk, int egress) {
  struct tcp_sock* tp = (struct tcp_sock*)sk;
  return egress ? BPF_CORE_READ(tp, write_seq) : BPF_CORE_READ(tp, copied_seq);
}

// The socket's addresses and ports into the record header.
static __always_inline void read_tuple(struct sock* sk, struct fs_sock_event* h) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  h->family = (__u8)family;
  h->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  h->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  __builtin_memset(h->local_addr, 0, 16);
  __builtin_memset(h->remote_addr, 0, 16);
  // Explicit sizes: BPF_CORE_READ_INTO would copy sizeof(*dst), one byte of the array.
  if (family == AF_INET) {
    bpf_core_read(h->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
    bpf_core_read(h->remote_addr, 4, &sk->__sk_common.skc_daddr);
  } else {
    bpf_core_read(h->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
    bpf_core_read(h->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
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
static __always_inline void emit_lifecycle(__u8 kind, __u8 func, struct sock* sk, __s32 fd,
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
  read_tuple(sk, h);
  if (bpf_ringbuf_output(&events, h, sizeof(*h), wakeup_flags())) {
    count(FS_CNT_RING_FULL);
    return;
  }
  count(kind == FS_EV_OPEN ? FS_CNT_OPEN_EVENTS : FS_CNT_CLOSE_EVENTS);
}

// Registers a socket (new id) with an explicit role, or updates the role of a known one.
static __always_inline void register_socket(struct sock_ref* ref, __s32 fd, __u8 role, __u8 func,
                                            int force_new) {
  __u64 key = (__u64)ref->sk;
  struct sock_info* old = bpf_map_lookup_elem(&socks, &key);
  struct sock_info si = {};
  if (old && !force_new && old->file == (__u64)ref->file) {
    si = *old;
  } else {
    si.id = __sync_fetch_and_add(&next_socket_id, 1);
    si.file = (__u64)ref->file;
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
static __always_inline struct sock_info* socket_info(struct sock* sk, __u64 file, __s32 fd,
                                                     __u16 proto, int egress, __u8 func) {
  __u64 key = (__u64)sk;
  struct sock_info* si = bpf_map_lookup_elem(&socks, &key);
  if (si && si->file == file) return si;
  struct sock_info n = {};
  n.id = __sync_fetch_and_add(&next_socket_id, 1);
  n.file = file;
  __u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
  __u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  n.role = infer_role(lport, rport, proto, egress);
  n.flags = SI_ROLE_INFERRED;
  if (bpf_map_update_elem(&socks, &key, &n, BPF_ANY)) {
    count(FS_CNT_MAP_FULL);
    return NULL;
  }
  emit_lifecycle(FS_EV_OPEN, func, sk, fd, proto, &n);
  return bpf_map_lookup_elem(&socks, &key);
}

// syscall_trace_id: an ingress message starts a new id unless the thread's previous message
// was ingress too; an egress message carries the thread's current id (0 if none yet).
// Syscalls made inside an SSL call (ciphertext) read the id without changing the state: the
// plaintext record of the SSL call decides.
static __always_inline __u64 syscall_trace_id(__u64 pid_tgid, int egress, int passive) {
  struct thread_trace* t = bpf_map_lookup_elem(&threads, &pid_tgid);
  if (passive) return t ? t->id : 0;
  if (egress) {
    if (!t) return 0;
    t->last_dir = FS_DIR_EGRESS;
    return t->id;
  }
  if (t && t->last_dir == FS_DIR_INGRESS && t->id) return t->id;
  struct thread_trace n = {};
  n.id = __sync_fetch_and_add(&next_trace_id, 1);
  n.last_dir = FS_DIR_INGRESS;
  if (bpf_map_update_elem(&threads, &pid_tgid, &n, BPF_ANY)) count(FS_CNT_MAP_FULL);
  return n.id;
}

static __always_inline __u32 clamp_cap(__u64 len) {
  __u64 n = len;
  if (n > capture_bytes) n = capture_bytes;
  if (n > FS_CAPTURE_MAX) n = FS_CAPTURE_MAX;
  return (__u32)n;
}

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
static __always_inline void fill_data_header(struct fs_sock_event* h, __u64 pid_tgid,
                                             struct sock* sk, __s32 fd, __u16 proto, __u8 func,
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
  read_tuple(sk, h);
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
static __always_inline int note_ssl_socket(__u64 pid_tgid, struct sys_args* a,
                                           struct sock_info* si) {
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
static __always_inline void emit_mmsg(struct sys_args* a, long ret, __u64 pid_tgid,
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
    fill_data_header(h, pid_tgid, (struct sock*)a->sk, a->fd, IPPROTO_UDP, a->func, si);
    if (in_ssl) h->flags |= FS_F_TLS_CIPHER;
    h->ts_ns = egress ? a->enter_ts : now;
    h->msg_len = m.msg_len;
    h->tcp_seq = 0;
    h->syscall_trace_id = syscall_trace_id(pid_tgid, egress, in_ssl);
    tuple_from_sockaddr((__u64)m.msg_hdr.msg_name, h);
    __u32 want = clamp_cap(m.msg_len);
    h->cap_len = copy_iov(e, (__u64)m.msg_hdr.msg_iov, (__u32)m.msg_hdr.msg_iovlen, want);
    submit(e);
  }
}

// Single-buffer calls through a directly reserved ring record (reserve_records=1): the
// alternative to assembling in `scratch` and copying with bpf_ringbuf_output.
static __always_inline int emit_reserved(struct sys_args* a, long ret, __u64 pid_tgid,
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
  fill_data_header(h, pid_tgid, (struct sock*)a->sk, a->fd, proto, a->func, si);
  if (in_ssl) h->flags |= FS_F_TLS_CIPHER;
  h->ts_ns = egress ? a->enter_ts : now;
  h->msg_len = (__u32)ret;
  h->tcp_seq = a->seq;
  if (proto == IPPROTO_TCP) h->flags |= FS_F_SEQ_VALID;
  h->syscall_trace_id = syscall_trace_id(pid_tgid, egress, in_ssl);
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

// How a call passes its payload; a constant at each call site so that every exit program only
// holds the code of its own shape (the verifier walks far fewer paths).
enum io_shape { SHAPE_BUF, SHAPE_IOV, SHAPE_MSG, SHAPE_MMSG };

static __always_inline int exit_io(long ret, const enum io_shape shape) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct sys_args* p = bpf_map_lookup_elem(&args_map, &pid_tgid);
  if (!p) return 0;
  struct sys_args a = *p;
  bpf_map_delete_elem(&args_map, &pid_tgid);
  if (ret <= 0 || a.func == FS_FN_CONNECT) return 0;
  __u64 now = bpf_ktime_get_ns();
  int egress = is_egress(a.func);
  struct sock* sk = (struct sock*)a.sk;
  __u16 proto = BPF_CORE_READ(sk, sk_protocol);
  struct sock_info* si = socket_info(sk, a.file, a.fd, proto, egress, a.func);
  int in_ssl = note_ssl_socket(pid_tgid, &a, si);

  if (shape == SHAPE_MMSG) {
    emit_mmsg(&a, ret, pid_tgid, si, in_ssl, now);
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
    if (emit_reserved(&a, ret, pid_tgid, si, in_ssl, now, proto)) return 0;
  }

  __u32 zero = 0;
  struct event_buf* e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e) return 0;
  struct fs_sock_event* h = &e->hdr;
  fill_data_header(h, pid_tgid, sk, a.fd, proto, a.func, si);
  if (in_ssl) h->flags |= FS_F_TLS_CIPHER;
  h->ts_ns = egress ? a.enter_ts : now;
  h->msg_len = ret > 0xffffffffL ? 0xffffffffU : (__u32)ret;
  h->tcp_seq = proto == IPPROTO_TCP ? a.seq : 0;
  if (proto == IPPROTO_TCP) h->flags |= FS_F_SEQ_VALID;
  h->syscall_trace_id = syscall_trace_id(pid_tgid, egress, in_ssl);
  tuple_from_sockaddr(a.addr, h);
  __u32 want = clamp_cap((__u64)ret);
  if (shape == SHAPE_BUF)
    h->cap_len = copy_buf(e->data, a.buf, want);
  else
    h->cap_len = iov ? copy_iov(e, iov, iovcnt, want) : 0;
  submit(e);
  return 0;
}

static __always_inline int enter_io(__s32 fd, __u64 buf, __u32 vlen, __u64 addr, __u8 func) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid >> 32)) return 0;
  struct sock_ref ref = {};
  if (!fd_to_sock(fd, &ref)) return 0;
  struct sys_args a = {};
  a.sk = (__u64)ref.sk;
  a.file = (__u64)ref.file;
  a.buf = buf;
  a.addr = addr;
  a.fd = fd;
  a.vlen = vlen;
  a.func = func;
  a.enter_ts = bpf_ktime_get_ns();
  if (ref.proto == IPPROTO_TCP) a.seq = tcp_seq_at_entry(ref.sk, is_egress(func));
  if (bpf_map_update_elem(&args_map, &pid_tgid, &a, BPF_ANY)) count(FS_CNT_MAP_FULL);
  return 0;
}

// ---- syscall tracepoints ----
// args[] follow each syscall's signature, e.g. sendto(fd, buf, len, flags, dest_addr, addrlen).

#define ARG(i) (ctx->args[i])

SEC("tracepoint/syscalls/sys_enter_read")
int sys_enter_read(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), 0, 0, FS_FN_READ);
}
SEC("tracepoint/syscalls/sys_enter_write")
int sys_enter_write(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), 0, 0, FS_FN_WRITE);
}
SEC("tracepoint/syscalls/sys_enter_readv")
int sys_enter_readv(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), (__u32)ARG(2), 0, FS_FN_READV);
}
SEC("tracepoint/syscalls/sys_enter_writev")
int sys_enter_writev(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), (__u32)ARG(2), 0, FS_FN_WRITEV);
}
SEC("tracepoint/syscalls/sys_enter_sendto")
int sys_enter_sendto(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), 0, ARG(4), FS_FN_SENDTO);
}
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int sys_enter_recvfrom(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), 0, ARG(4), FS_FN_RECVFROM);
}
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sys_enter_sendmsg(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), 0, 0, FS_FN_SENDMSG);
}
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sys_enter_recvmsg(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), 0, 0, FS_FN_RECVMSG);
}
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int sys_enter_sendmmsg(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), (__u32)ARG(2), 0, FS_FN_SENDMMSG);
}
SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int sys_enter_recvmmsg(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), ARG(1), (__u32)ARG(2), 0, FS_FN_RECVMMSG);
}

SEC("tracepoint/syscalls/sys_exit_read")
int sys_exit_read(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_BUF); }
SEC("tracepoint/syscalls/sys_exit_write")
int sys_exit_write(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_BUF); }
SEC("tracepoint/syscalls/sys_exit_readv")
int sys_exit_readv(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_IOV); }
SEC("tracepoint/syscalls/sys_exit_writev")
int sys_exit_writev(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_IOV); }
SEC("tracepoint/syscalls/sys_exit_sendto")
int sys_exit_sendto(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_BUF); }
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int sys_exit_recvfrom(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_BUF); }
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int sys_exit_sendmsg(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_MSG); }
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int sys_exit_recvmsg(struct trace_event_raw_sys_exit* ctx) { return exit_io(ctx->ret, SHAPE_MSG); }
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int sys_exit_sendmmsg(struct trace_event_raw_sys_exit* ctx) {
  return exit_io(ctx->ret, SHAPE_MMSG);
}
SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int sys_exit_recvmmsg(struct trace_event_raw_sys_exit* ctx) {
  return exit_io(ctx->ret, SHAPE_MMSG);
}

// connect: the fd is saved at entry (in args_map, func CONNECT); at exit, success or
// EINPROGRESS (non-blocking) makes the socket a client socket with a fresh id... unless it is a
// UDP socket already known (re-connect), which keeps its id.
SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct trace_event_raw_sys_enter* ctx) {
  return enter_io((__s32)ARG(0), 0, 0, 0, FS_FN_CONNECT);
}
SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct trace_event_raw_sys_exit* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct sys_args* p = bpf_map_lookup_elem(&args_map, &pid_tgid);
  if (!p) return 0;
  struct sys_args a = *p;
  bpf_map_delete_elem(&args_map, &pid_tgid);
  if (a.func != FS_FN_CONNECT || (ctx->ret != 0 && ctx->ret != -EINPROGRESS)) return 0;
  struct sock_ref ref = {.sk = (struct sock*)a.sk, .file = (struct file*)a.file};
  struct sock* sk = ref.sk;  // CO-RE reads take a plain pointer, not a member of a local
  ref.proto = BPF_CORE_READ(sk, sk_protocol);
  register_socket(&ref, a.fd, FS_ROLE_CLIENT, FS_FN_CONNECT, ref.proto == IPPROTO_TCP);
  return 0;
}

// accept/accept4: the returned fd is a new server-side socket.
static __always_inline int exit_accept(long ret) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (ret < 0 || !traced(pid_tgid >> 32)) return 0;
  struct sock_ref ref = {};
  if (!fd_to_sock((__s32)ret, &ref)) return 0;
  register_socket(&ref, (__s32)ret, FS_ROLE_SERVER, FS_FN_ACCEPT, 1);
  return 0;
}
SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct trace_event_raw_sys_exit* ctx) { return exit_accept(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct trace_event_raw_sys_exit* ctx) { return exit_accept(ctx->ret); }

// close: when this is the socket's last file reference (not a dup()ed or inherited copy), the
// socket ends: close record, id forgotten.
SEC("tracepoint/syscalls/sys_enter_close")
int sys_enter_close(struct trace_event_raw_sys_enter* ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!traced(pid_tgid >> 32)) return 0;
  __s32 fd = (__s32)ARG(0);
  struct sock_ref ref = {};
  if (!fd_to_sock(fd, &ref)) return 0;
  __u64 key = (__u64)ref.sk;
  struct sock_info* si = bpf_map_lookup_elem(&socks, &key);
  if (!si || si->file != (__u64)ref.file) return 0;
  long refs;
  struct file* file = ref.file;
  if (bpf_core_field_exists(file->f_ref)) {
    refs = BPF_CORE_READ(file, f_ref.refcnt.counter) + 1;  // file_ref_t stores count - 1
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
  if (bpf_map_update_elem(&ssl_calls, &pid_tgid, &c, BPF_ANY)) count(FS_CNT_MAP_FULL);
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
    struct sock* sk = (struct sock*)c.sk;
    proto = BPF_CORE_READ(sk, sk_protocol);
    si = socket_info((struct sock*)c.sk, c.file, c.fd, proto, egress, c.func);
    if (si) si->flags |= SI_TLS;
  }
  // After socket_info: its open record also assembles in `scratch`.
  __u32 zero = 0;
  struct event_buf* e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e) return 0;
  struct fs_sock_event* h = &e->hdr;
  if (c.sk) {
    struct sock* sk = (struct sock*)c.sk;
    fill_data_header(h, pid_tgid, sk, c.fd, proto, c.func, si);
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
  h->syscall_trace_id = syscall_trace_id(pid_tgid, egress, 0);
  h->cap_len = copy_buf(e->data, c.buf, clamp_cap(len));
  if (bpf_ringbuf_output(&events, e, record_size(h->cap_len), wakeup_flags())) {
    count(FS_CNT_RING_FULL);
    return 0;
  }
  count(FS_CNT_TLS_EVENTS);
  return 0;
}
