#include "generator.h"
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstring>
#include "engine.h"

namespace pbx {

Generator::Generator(const std::string& address) {
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  int big = 32 << 20;
  // FORCE variants lift the sysctl cap when we are root; fall back silently otherwise.
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  addr_ = sa.sin_addr.s_addr;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  socklen_t l = sizeof sa;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &l);
  port_ = ntohs(sa.sin_port);
}

Generator::~Generator() {
  stop();
  if (fd_ >= 0) ::close(fd_);
}

void Generator::start(const std::vector<uint16_t>& ports, int pt, const std::vector<uint8_t>& payload, int groups, int rtPriority) {
  rtPriority_ = rtPriority;
  stop();
  ports_ = ports;
  payload_ = payload;
  pt_ = pt;
  groups_ = groups < 1 ? 1 : groups;
  running_ = true;
  sending_ = true;
  thread_ = std::thread([this] { run(); });
}

void Generator::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

void Generator::run() {
  if (rtPriority_ > 0) {
    // The load generator must not be the bottleneck it measures: keep it off the run queue of
    // ordinary processes too (below the media thread's priority).
    sched_param sp{};
    sp.sched_priority = rtPriority_;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  }
  size_t n = ports_.size(), plen = payload_.size();
  std::vector<uint8_t> bufs(n * (12 + plen));
  std::vector<sockaddr_in> dst(n);
  std::vector<iovec> iov(n);
  std::vector<mmsghdr> msgs(n);
  for (size_t i = 0; i < n; i++) {
    uint8_t* b = &bufs[i * (12 + plen)];
    b[0] = 0x80;
    b[1] = uint8_t(pt_);
    uint32_t ssrc = 0x10000000u + uint32_t(i);
    b[8] = uint8_t(ssrc >> 24); b[9] = uint8_t(ssrc >> 16); b[10] = uint8_t(ssrc >> 8); b[11] = uint8_t(ssrc);
    std::memcpy(b + 12, payload_.data(), plen);
    dst[i] = sockaddr_in{};
    dst[i].sin_family = AF_INET;
    dst[i].sin_port = htons(ports_[i]);
    dst[i].sin_addr.s_addr = addr_;
    iov[i] = {b, 12 + plen};
    msgs[i].msg_hdr = msghdr{};
    msgs[i].msg_hdr.msg_name = &dst[i];
    msgs[i].msg_hdr.msg_namelen = sizeof dst[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  constexpr int kRx = 64;
  mmsghdr rx[kRx];
  iovec riov[kRx];
  static thread_local uint8_t rbuf[kRx][256];
  uint16_t seq = 0;
  uint32_t ts = 0;
  int group = 0;
  int64_t step = kTickNs / groups_;
  int64_t next = monoNs() + step;
  while (running_) {
    int64_t now = monoNs();
    if (now >= next) {
      if (sending_) {
        // Each group is a slice of the targets, so one 20 ms period is spread over `groups` bursts.
        size_t a = n * size_t(group) / size_t(groups_), z = n * size_t(group + 1) / size_t(groups_);
        for (size_t i = a; i < z; i++) {
          uint8_t* b = &bufs[i * (12 + plen)];
          b[2] = uint8_t(seq >> 8); b[3] = uint8_t(seq);
          b[4] = uint8_t(ts >> 24); b[5] = uint8_t(ts >> 16); b[6] = uint8_t(ts >> 8); b[7] = uint8_t(ts);
        }
        size_t i = a;
        while (i < z) {
          int r = sendmmsg(fd_, &msgs[i], unsigned(z - i > 1024 ? 1024 : z - i), 0);
          if (r <= 0) { errors++; break; }
          sent += uint64_t(r);
          i += size_t(r);
        }
      }
      if (++group == groups_) {
        group = 0;
        seq++;
        ts += 160;
      }
      next += step;
      continue;
    }
    pollfd pf{fd_, POLLIN, 0};
    int wait = int((next - now) / 1000000);
    poll(&pf, 1, wait < 1 ? 1 : wait);
    if (!(pf.revents & POLLIN)) continue;
    for (;;) {
      for (int i = 0; i < kRx; i++) {
        riov[i] = {rbuf[i], sizeof rbuf[i]};
        rx[i].msg_hdr = msghdr{};
        rx[i].msg_hdr.msg_iov = &riov[i];
        rx[i].msg_hdr.msg_iovlen = 1;
      }
      int r = recvmmsg(fd_, rx, kRx, MSG_DONTWAIT, nullptr);
      if (r <= 0) break;
      uint64_t rtp = 0;
      for (int i = 0; i < r; i++)
        if (rx[i].msg_len >= 12 && !(rbuf[i][1] >= 192 && rbuf[i][1] <= 223)) rtp++;
      received += rtp;
      if (r < kRx) break;
    }
  }
}

}  // namespace pbx
