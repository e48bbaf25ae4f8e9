// The media engine: one media thread that owns every anchored leg's sockets and runs the 20 ms
// frame clock. JavaScript talks to it through a command queue and hears back through events.
#pragma once
#include <netinet/in.h>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include "g711.h"
#include "writer.h"

namespace pbx {

constexpr int kFrame = 160;            // samples per 20 ms at 8 kHz
constexpr int64_t kTickNs = 20000000;  // frame clock period
constexpr int kJbRing = 4096;          // jitter buffer ring, samples (512 ms)

int64_t monoNs();

struct Event {
  std::string type;  // dtmf | timeout | rtcp | talker | end | error | silence | full
  uint32_t id = 0;   // object the event belongs to
  int32_t a = 0, b = 0;
  std::string text;
  std::vector<uint8_t> data;
};

class Engine;
struct Recorder;
struct Player;
struct Conference;
struct Participant;

// Adaptive jitter buffer on a sample ring keyed by RTP timestamp, so any ptime works.
struct JitterBuffer {
  int16_t ring[kJbRing];
  uint8_t valid[kJbRing];
  int16_t last[kFrame];
  bool started = false, waiting = false;
  uint32_t ssrc = 0, playTs = 0, highTs = 0;
  int target = kFrame, cap = 1600;  // samples
  int plcCount = 0, overDepthTicks = 0;
  uint64_t late = 0, concealed = 0, dropped = 0;
  void put(uint32_t ssrc, uint32_t ts, const int16_t* s, int n);
  bool get(int16_t* out);  // false when nothing real was played (concealment or silence)
  void reset(uint32_t ssrc, uint32_t ts);
};

struct Endpoint {
  uint32_t id = 0;
  int rtpFd = -1, rtcpFd = -1;
  uint16_t port = 0;
  sockaddr_in remote{}, remoteRtcp{};
  bool hasRemote = false, latching = true, rtcpMux = false;
  bool latched = false;         // a source has been confirmed; strangers can't take the stream over
  int64_t lastFromRemoteNs = 0;
  int pt = 0, tePt = 101;
  int64_t timeoutNs = 0, lastRxNs = 0;
  bool timedOut = false;
  // transmit side: stable SSRC, seq/ts continuous across source changes
  uint32_t outSsrc = 0, outTs = 0;
  uint16_t outSeq = 0;
  uint64_t srcKey = 0;
  uint16_t seqOff = 0;
  uint32_t tsOff = 0;
  bool txStarted = false;
  uint16_t localSeq = 0;
  uint32_t localTs = 0;
  uint32_t txPackets = 0, txOctets = 0;
  // receive side, RFC 3550 statistics
  uint32_t inSsrc = 0, baseSeq = 0, cycles = 0, received = 0, expectedPrior = 0, receivedPrior = 0;
  uint16_t maxSeq = 0;
  bool rxStarted = false;
  double jitter = 0;
  int64_t lastTransit = 0;
  uint32_t lastSrMid = 0;
  int64_t lastSrNs = 0, nextRtcpNs = 0, rtcpWindowNs = 0;
  int rtcpWindowCount = 0;
  // DTMF receive: one event per RTP timestamp
  uint32_t dtmfTs = 0;
  bool dtmfSeen = false, dtmfReported = false;
  int dtmfLastEvent = 0, dtmfLastDur = 0;
  int64_t dtmfLastNs = 0;
  // DTMF send
  std::string dtmfQueue;
  int dtmfDurSamples = 800, dtmfElapsed = 0, dtmfEnds = 0, dtmfGap = 0;
  bool dtmfActive = false;
  int dtmfCode = 0;
  uint32_t dtmfStartTs = 0, dtmfCount = 0;
  uint64_t dtmfKey = 0;
  // attachments
  Endpoint* peer = nullptr;
  Conference* conf = nullptr;
  Participant* part = nullptr;
  Player* player = nullptr;
  Recorder* recorder = nullptr;
  uint64_t rxPackets = 0, rxBytes = 0, sent = 0, rtcpIn = 0, rtcpOut = 0, dropped = 0;
};

struct Participant {
  Endpoint* ep = nullptr;
  JitterBuffer jb;
  int16_t in[kFrame], contrib[kFrame], out[kFrame];
  bool hasInput = false, muted = false, talking = false;
  int32_t gainQ12 = 4096;
  int aboveTicks = 0, belowTicks = 0;
};

struct Conference {
  uint32_t id = 0;
  std::vector<std::unique_ptr<Participant>> parts;
  std::vector<Player*> players;
  Recorder* recorder = nullptr;
  int jbMaxSamples = 1600;
  int32_t talkerThreshold = 300;  // RMS, linear
  // scratch, grown when participants are added, never inside the frame loop
  std::vector<const int16_t*> ins;
  std::vector<int16_t*> outs;
  int32_t sum[kFrame];
  int16_t mix[kFrame];
};

struct Player {
  uint32_t id = 0;
  std::vector<int16_t> samples;
  size_t pos = 0;
  bool loop = false, done = false;
  Endpoint* ep = nullptr;
  Conference* conf = nullptr;
  int16_t frame[kFrame];
  bool next();  // fills frame; false when finished
};

struct Recorder {
  uint32_t id = 0;
  Engine* eng = nullptr;  // for its events (silence) and its writer
  std::shared_ptr<RecordingFile> file;  // written by the engine's DiskWriter thread
  uint32_t dataBytes = 0;               // data bytes handed to the writer
  int64_t lastHeaderNs = 0;
  std::vector<int16_t> pending;         // taken, not handed to the writer yet
  Endpoint* ep = nullptr;
  Conference* conf = nullptr;
  bool rtpStarted = false;
  uint32_t rtpSsrc = 0, rtpNextTs = 0;
  // Options (0 = off). Silence is judged per 20 ms frame of the file, lost-packet fill included.
  uint64_t silenceSamples = 0, maxSamples = 0;
  int64_t silenceEnergy = 0;  // threshold as the energy of a frame: rms^2 * kFrame
  // Silence run and the frame being measured.
  uint64_t silentRun = 0, accepted = 0;  // accepted: samples taken into the file (pending + written)
  int64_t frameEnergy = 0;
  int frameFill = 0;
  bool silenceFired = false;
  bool full = false, fullReported = false;  // maxSamples reached; reported once the data is on disk
  bool failed = false;                      // a write failed: nothing more is written
  void append(const int16_t* s, size_t n);  // s == nullptr: n samples of silence
  // Received RTP: keeps the timeline (silence for lost packets, late/duplicate packets dropped).
  void appendRtp(uint32_t ssrc, uint32_t ts, const int16_t* s, size_t n);
  // Hands whole chunks to the writer (every 100 ms, or everything when `force`); a header
  // rewrite twice a second, so a killed process leaves a valid file missing at most ~0.6 s.
  void flush(int64_t now, bool force);
  // The rest of the data, the last header, fsync, close: on the writer thread; `emitEnd`: the
  // 'end' event once the file is complete.
  void close(bool emitEnd);
};

struct EngineOptions {
  std::string address = "127.0.0.1";
  int portMin = 20000, portMax = 30000;
  int rtcpIntervalMs = 5000;
  int rtPriority = 0;  // > 0: run the media thread SCHED_FIFO at this priority (needs CAP_SYS_NICE)
};

class Engine {
 public:
  using Notify = std::function<void()>;
  explicit Engine(const EngineOptions& o, Notify notify);
  ~Engine();
  void start();
  void stop();
  // JS thread
  uint32_t nextId() { return ++idSeq_; }
  bool allocPorts(int& rtpFd, int& rtcpFd, uint16_t& port, std::string& err);
  void post(std::function<void()> cmd);
  std::vector<Event> takeEvents();
  // query run synchronously on the media thread (stats); blocks the caller for at most ~1 tick
  bool query(std::function<void()> fn, int timeoutMs = 2000);
  pid_t tid() const { return tid_.load(); }
  bool realtime() const { return realtime_.load(); }

  // media thread API (called from commands)
  std::unordered_map<uint32_t, std::unique_ptr<Endpoint>> endpoints;
  std::unordered_map<uint32_t, std::unique_ptr<Conference>> conferences;
  std::unordered_map<uint32_t, std::unique_ptr<Player>> players;
  std::unordered_map<uint32_t, std::unique_ptr<Recorder>> recorders;
  void addEndpoint(std::unique_ptr<Endpoint> ep);
  void removeEndpoint(uint32_t id);
  void removeConference(uint32_t id);
  void removePlayer(uint32_t id, bool emitEnd);
  void removeRecorder(uint32_t id);
  void detach(Endpoint* ep);
  void emit(Event&& ev);
  DiskWriter& writer() { return *writer_; }
  void sendLocal(Endpoint* ep, uint64_t key, const int16_t* pcm);
  // payload is already at pkt_ + 12
  void sendRtp(Endpoint* ep, uint64_t key, int pt, bool marker, uint16_t seq, uint32_t ts, size_t plen);
  int64_t rtcpIntervalNs = 5000000000LL;

  // counters (media thread writes, any thread reads)
  std::atomic<uint64_t> ticks{0}, rxPackets{0}, txPackets{0}, rxRtcp{0}, txRtcp{0}, lostTicks{0};
  std::atomic<uint64_t> lateHist[64];  // bucket i: lateness in [i*100us, (i+1)*100us); last = overflow
  std::atomic<int64_t> lateMaxNs{0};
  void resetStats();

 private:
  void run();
  void tick(int64_t now);
  void onReadable(Endpoint* ep, bool rtcp);
  void onRtp(Endpoint* ep, const uint8_t* p, size_t len, const sockaddr_in& from, int64_t now);
  void onRtcp(Endpoint* ep, const uint8_t* p, size_t len, const sockaddr_in& from, int64_t now);
  void relay(Endpoint* from, Endpoint* to, const uint8_t* p, size_t len, size_t hdr);
  void dtmfReceive(Endpoint* ep, const uint8_t* p, size_t len, uint32_t ts, bool marker);
  void dtmfSendTick(Endpoint* ep);
  void sendRtcp(Endpoint* ep, int64_t now);
  void mixConference(Conference* c, int64_t now);
  void drainCommands();

  EngineOptions opts_;
  Notify notify_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> realtime_{false};
  std::atomic<uint32_t> idSeq_{0};
  int epfd_ = -1, evfd_ = -1, timerfd_ = -1;
  int nextPort_;
  std::mutex cmdMu_;
  std::deque<std::function<void()>> cmds_;
  std::unique_ptr<DiskWriter> writer_;
  std::mutex evMu_;
  std::vector<Event> events_;
  int16_t scratch_[2048];
  uint8_t pkt_[2048];
};

}  // namespace pbx
