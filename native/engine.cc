// Media thread life cycle, frame clock, command queue and the event channel back to JS.
#include "engine.h"
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <pthread.h>
#include <sched.h>
#include <random>

namespace pbx {

const G711Tables g711;

int64_t monoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

Engine::Engine(const EngineOptions& o, Notify notify) : opts_(o), notify_(std::move(notify)), writer_(std::make_unique<DiskWriter>(this)) {
  nextPort_ = opts_.portMin;
  rtcpIntervalNs = int64_t(opts_.rtcpIntervalMs) * 1000000LL;
  for (auto& h : lateHist) h.store(0);
}

Engine::~Engine() { stop(); }

void Engine::start() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 1;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
  ev.data.u64 = 2;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, timerfd_, &ev);
  running_ = true;
  writer_->start();
  thread_ = std::thread([this] { run(); });
}

void Engine::stop() {
  if (!running_.exchange(false)) return;
  uint64_t one = 1;
  (void)!write(evfd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  // The thread is gone: tear down what it owned. Recordings are completed by the writer.
  for (auto& [id, r] : recorders) r->close(false);
  recorders.clear();
  writer_->stop();
  for (auto& [id, ep] : endpoints) {
    if (ep->rtpFd >= 0) ::close(ep->rtpFd);
    if (ep->rtcpFd >= 0) ::close(ep->rtcpFd);
  }
  endpoints.clear();
  players.clear();
  conferences.clear();
  ::close(epfd_);
  ::close(evfd_);
  ::close(timerfd_);
}

static int bindUdp(const std::string& addr, uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    int e = errno;  // close() may overwrite it; the caller needs bind's reason
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// Even RTP port, RTCP on the next one; walk the range round-robin so a just-freed pair is reused last.
bool Engine::allocPorts(int& rtpFd, int& rtcpFd, uint16_t& port, std::string& err) {
  int lo = opts_.portMin + (opts_.portMin & 1), span = (opts_.portMax - lo + 1) / 2;
  for (int i = 0; i < span; i++) {
    if (nextPort_ < lo || nextPort_ + 1 > opts_.portMax) nextPort_ = lo;
    int p = nextPort_;
    nextPort_ += 2;
    int a = bindUdp(opts_.address, uint16_t(p));
    if (a < 0) {
      if (errno == EMFILE || errno == ENFILE) { err = "out of file descriptors"; return false; }
      if (errno == EADDRNOTAVAIL) { err = "address not available: " + opts_.address; return false; }
      continue;
    }
    int b = bindUdp(opts_.address, uint16_t(p + 1));
    if (b < 0) { ::close(a); continue; }
    rtpFd = a;
    rtcpFd = b;
    port = uint16_t(p);
    return true;
  }
  err = "no free port pair in range";
  return false;
}

void Engine::post(std::function<void()> cmd) {
  {
    std::lock_guard<std::mutex> g(cmdMu_);
    cmds_.push_back(std::move(cmd));
  }
  uint64_t one = 1;
  (void)!write(evfd_, &one, sizeof one);
}

bool Engine::query(std::function<void()> fn, int timeoutMs) {
  auto m = std::make_shared<std::mutex>();
  auto cv = std::make_shared<std::condition_variable>();
  auto done = std::make_shared<bool>(false);
  post([fn, m, cv, done] {
    fn();
    std::lock_guard<std::mutex> g(*m);
    *done = true;
    cv->notify_all();
  });
  std::unique_lock<std::mutex> lk(*m);
  return cv->wait_for(lk, std::chrono::milliseconds(timeoutMs), [&] { return *done; });
}

// Commands run at most kCommandsPerTurn at a time: a burst (a thousand calls set up at once)
// is spread over several turns of the loop, and the frame clock is served between them.
static constexpr size_t kCommandsPerTurn = 256;

void Engine::drainCommands() {
  std::function<void()> batch[kCommandsPerTurn];
  size_t n = 0;
  bool more;
  {
    std::lock_guard<std::mutex> g(cmdMu_);
    while (n < kCommandsPerTurn && !cmds_.empty()) {
      batch[n++] = std::move(cmds_.front());
      cmds_.pop_front();
    }
    more = !cmds_.empty();
  }
  for (size_t i = 0; i < n; i++) batch[i]();
  if (more) {
    uint64_t one = 1;
    (void)!write(evfd_, &one, sizeof one);  // come back for the rest after this turn
  }
}

void Engine::emit(Event&& ev) {
  bool wasEmpty;
  {
    std::lock_guard<std::mutex> g(evMu_);
    wasEmpty = events_.empty();
    events_.push_back(std::move(ev));
  }
  if (wasEmpty && notify_) notify_();
}

std::vector<Event> Engine::takeEvents() {
  std::vector<Event> out;
  std::lock_guard<std::mutex> g(evMu_);
  out.swap(events_);
  return out;
}

void Engine::resetStats() {
  for (auto& h : lateHist) h.store(0);
  lateMaxNs = 0;
  ticks = 0;
  rxPackets = 0;
  txPackets = 0;
  rxRtcp = 0;
  txRtcp = 0;
  lostTicks = 0;
}

void Engine::run() {
  tid_ = pid_t(syscall(SYS_gettid));
  if (opts_.rtPriority > 0) {
    // Like other PBX media engines: the frame clock must not wait behind ordinary work.
    sched_param sp{};
    sp.sched_priority = opts_.rtPriority;
    realtime_ = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
  }
  int64_t next = monoNs() + kTickNs;
  auto arm = [this](int64_t at) {
    itimerspec its{};
    its.it_value.tv_sec = at / 1000000000LL;
    its.it_value.tv_nsec = at % 1000000000LL;
    timerfd_settime(timerfd_, TFD_TIMER_ABSTIME, &its, nullptr);
  };
  arm(next);
  // Absolute deadlines: lateness never accumulates into drift.
  auto onDeadline = [&](int64_t now) {
    int64_t late = now - next;
    size_t b = size_t(late / 100000);
    lateHist[b < 63 ? b : 63]++;
    if (late > lateMaxNs) lateMaxNs = late;
    tick(now);
    next += kTickNs;
    if (now - next > 10 * kTickNs) {  // stalled (debugger, suspend): skip ahead, don't burst
      lostTicks += uint64_t((now - next) / kTickNs);
      next = now + kTickNs;
    }
    arm(next);
  };
  epoll_event evs[256];
  while (running_) {
    int n = epoll_wait(epfd_, evs, 256, 100);
    bool cmds = false;
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == 1) {
        uint64_t v;
        (void)!read(evfd_, &v, sizeof v);
        cmds = true;
        continue;
      }
      if (tag == 2) {
        uint64_t v;
        (void)!read(timerfd_, &v, sizeof v);
        continue;
      }
      // The tick has priority over socket work: check the deadline between sockets.
      int64_t now = monoNs();
      if (now >= next) onDeadline(now);
      Endpoint* ep = reinterpret_cast<Endpoint*>(tag & ~uint64_t(7));
      onReadable(ep, (tag & 4) != 0);
    }
    int64_t now = monoNs();
    if (now >= next) onDeadline(now);
    // Commands run after the batch so no pending event refers to a freed endpoint.
    if (cmds) drainCommands();
  }
  for (;;) {
    {
      std::lock_guard<std::mutex> g(cmdMu_);
      if (cmds_.empty()) break;
    }
    drainCommands();
  }
}

void Engine::tick(int64_t now) {
  ticks++;
  for (auto& [id, ep] : endpoints) {
    Endpoint* e = ep.get();
    if (e->dtmfActive || !e->dtmfQueue.empty()) dtmfSendTick(e);
    // An event whose end packets were all lost is reported once it has been quiet for 300 ms.
    if (e->dtmfSeen && !e->dtmfReported && now - e->dtmfLastNs > 300000000LL) {
      e->dtmfReported = true;
      emit(Event{"dtmf", e->id, "0123456789*#ABCD"[e->dtmfLastEvent & 15], e->dtmfLastDur / 8, "", {}});
    }
    if (e->timeoutNs > 0 && e->hasRemote && !e->timedOut && e->lastRxNs > 0 && now - e->lastRxNs > e->timeoutNs) {
      e->timedOut = true;
      emit(Event{"timeout", e->id, int32_t((now - e->lastRxNs) / 1000000), 0, "", {}});
    }
    if (e->timeoutNs > 0 && e->lastRxNs == 0) e->lastRxNs = now;  // timer starts at creation
    if (now >= e->nextRtcpNs && e->hasRemote) sendRtcp(e, now);
  }
  std::vector<uint32_t> ended;
  for (auto& [id, pl] : players) {
    Player* p = pl.get();
    if (p->conf) continue;  // mixed by its conference
    if (!p->next()) { ended.push_back(id); continue; }
    if (p->ep && !p->ep->dtmfActive) sendLocal(p->ep, (uint64_t(1) << 40) | p->id, p->frame);
  }
  for (auto& [id, c] : conferences) mixConference(c.get(), now);
  for (auto& [id, pl] : players)
    if (pl->conf && pl->done) ended.push_back(id);
  for (uint32_t id : ended) removePlayer(id, true);
  for (auto& [id, r] : recorders) r->flush(now, false);
}

}  // namespace pbx
