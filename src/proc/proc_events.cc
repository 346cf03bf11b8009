#include "proc/proc_events.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace vg {
namespace {

Result<void> SendOp(int fd, proc_cn_mcast_op op) {
  // nlmsghdr, then the connector header (cn_msg, whose data[] is the operation), then op.
  constexpr std::size_t kBody = sizeof(cn_msg) + sizeof(proc_cn_mcast_op);
  alignas(nlmsghdr) char buf[NLMSG_SPACE(kBody)] = {};
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  h->nlmsg_len = NLMSG_LENGTH(kBody);
  h->nlmsg_type = NLMSG_DONE;
  h->nlmsg_pid = 0;
  cn_msg msg{};
  msg.id.idx = CN_IDX_PROC;
  msg.id.val = CN_VAL_PROC;
  msg.len = sizeof(proc_cn_mcast_op);
  std::memcpy(NLMSG_DATA(h), &msg, sizeof msg);
  std::memcpy(static_cast<char*>(NLMSG_DATA(h)) + sizeof msg, &op, sizeof op);
  if (::send(fd, buf, h->nlmsg_len, 0) < 0) {
    return std::unexpected(ErrnoError("proc connector", errno));
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<NetlinkProcEvents>> NetlinkProcEvents::Open() {
  UniqueFd fd(::socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR));
  if (fd.get() < 0) {
    return Fail(ErrorCode::kUnavailable,
                std::string("no proc connector (netlink): ") + std::strerror(errno));
  }
  // A large receive buffer: a burst of forks on a busy machine between two drains.
  const int size = 4 << 20;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  addr.nl_pid = 0;  // the kernel assigns one
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    return Fail(e == EPERM || e == EACCES ? ErrorCode::kPermissionDenied : ErrorCode::kUnavailable,
                std::string("cannot subscribe to process events: ") + std::strerror(e),
                "process events need CAP_NET_ADMIN in the initial network namespace");
  }
  if (auto r = SendOp(fd.get(), PROC_CN_MCAST_LISTEN); !r) {
    return Fail(ErrorCode::kUnavailable, r.error().message);
  }
  return std::unique_ptr<NetlinkProcEvents>(new NetlinkProcEvents(std::move(fd)));
}

NetlinkProcEvents::~NetlinkProcEvents() {
  if (fd_.get() >= 0) (void)SendOp(fd_.get(), PROC_CN_MCAST_IGNORE);
}

Result<DrainedEvents> NetlinkProcEvents::Drain() {
  DrainedEvents out;
  alignas(nlmsghdr) char buf[16384];
  while (out.events.size() < kMaxDrain) {
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        out.lost = true;
        continue;
      }
      return std::unexpected(ErrnoError("reading process events", errno));
    }
    std::size_t len = static_cast<std::size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_NOOP) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_event))) continue;
      cn_msg msg;
      std::memcpy(&msg, NLMSG_DATA(h), sizeof msg);
      if (msg.id.idx != CN_IDX_PROC || msg.id.val != CN_VAL_PROC) continue;
      proc_event ev;
      std::memcpy(&ev, static_cast<char*>(NLMSG_DATA(h)) + sizeof(cn_msg), sizeof ev);
      if (ev.what == proc_event::PROC_EVENT_FORK) {
        const auto& f = ev.event_data.fork;
        if (f.child_pid != f.child_tgid) continue;  // a thread
        out.events.push_back({ProcEvent::Kind::kFork, f.child_tgid, f.parent_tgid});
      } else if (ev.what == proc_event::PROC_EVENT_EXIT) {
        const auto& x = ev.event_data.exit;
        if (x.process_pid != x.process_tgid) continue;  // a thread
        out.events.push_back({ProcEvent::Kind::kExit, x.process_tgid, 0});
      }
    }
  }
  return out;
}

}  // namespace vg
