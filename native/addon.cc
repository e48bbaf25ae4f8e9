// Node-API face of the engine: a flat, id-based API; src/media/ wraps it in typed classes.
#include <napi.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cstring>
#include <chrono>
#include <random>
#include "engine.h"

namespace pbx {
int openWav(const std::string& path);
}

using namespace pbx;

static uint32_t u32(const Napi::Value& v, uint32_t dflt = 0) { return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt; }
static int32_t i32(const Napi::Value& v, int32_t dflt = 0) { return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt; }
static double f64(const Napi::Value& v, double dflt = 0) { return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt; }
static Napi::Value opt(const Napi::Object& o, const char* k) { return o.Has(k) ? o.Get(k) : o.Env().Undefined(); }

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Engine", {
      InstanceMethod("createEndpoint", &EngineWrap::CreateEndpoint),
      InstanceMethod("updateEndpoint", &EngineWrap::UpdateEndpoint),
      InstanceMethod("closeEndpoint", &EngineWrap::CloseEndpoint),
      InstanceMethod("bridge", &EngineWrap::Bridge),
      InstanceMethod("unbridge", &EngineWrap::Unbridge),
      InstanceMethod("createConference", &EngineWrap::CreateConference),
      InstanceMethod("confAdd", &EngineWrap::ConfAdd),
      InstanceMethod("confSet", &EngineWrap::ConfSet),
      InstanceMethod("confRemove", &EngineWrap::ConfRemove),
      InstanceMethod("closeConference", &EngineWrap::CloseConference),
      InstanceMethod("createPlayer", &EngineWrap::CreatePlayer),
      InstanceMethod("closePlayer", &EngineWrap::ClosePlayer),
      InstanceMethod("createRecorder", &EngineWrap::CreateRecorder),
      InstanceMethod("closeRecorder", &EngineWrap::CloseRecorder),
      InstanceMethod("sendDigits", &EngineWrap::SendDigits),
      InstanceMethod("stats", &EngineWrap::Stats),
      InstanceMethod("endpointStats", &EngineWrap::EndpointStats),
      InstanceMethod("resetStats", &EngineWrap::ResetStats),
      InstanceMethod("close", &EngineWrap::Close),
    });
  }

  // new Engine({address, portMin, portMax, rtcpIntervalMs}, onEvent(type, id, a, b, data))
  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    auto o = info[0].As<Napi::Object>();
    EngineOptions eo;
    eo.address = o.Get("address").As<Napi::String>();
    eo.portMin = i32(o.Get("portMin"));
    eo.portMax = i32(o.Get("portMax"));
    eo.rtcpIntervalMs = i32(opt(o, "rtcpIntervalMs"), 5000);
    eo.rtPriority = i32(opt(o, "realtimePriority"), 0);
    {
      // Fail at construction, not at the first call, when the address is not ours.
      int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      bool ok = inet_pton(AF_INET, eo.address.c_str(), &sa.sin_addr) == 1 && probe >= 0 &&
                bind(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
      int err = errno;
      if (probe >= 0) ::close(probe);
      if (!ok) {
        auto e = Napi::Error::New(env, "cannot bind to " + eo.address + ": " + strerror(err));
        e.Set("code", Napi::String::New(env, "EADDRNOTAVAIL"));
        throw e;
      }
    }
    onEvent_ = Napi::Persistent(info[1].As<Napi::Function>());
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "pbx-media-events", 0, 1);
    // Queued calls may still run on the JS thread after this wrap was garbage-collected (the
    // TSFN drains its queue after Release): they reach the wrap through `alive_`, which the
    // destructor clears, never through a raw `this`.
    auto alive = alive_;
    engine_ = std::make_unique<Engine>(eo, [this, alive] {
      tsfn_.NonBlockingCall([alive](Napi::Env env, Napi::Function) {
        if (alive->self) alive->self->Dispatch(env);
      });
    });
    engine_->start();
    rng_.seed(std::random_device{}());
  }
  ~EngineWrap() override {
    Shutdown();
    alive_->self = nullptr;
  }

 private:
  void Shutdown() {
    if (closed_) return;
    closed_ = true;
    engine_->stop();
    tsfn_.Release();
  }

  void Dispatch(Napi::Env env) {
    if (closed_) return;
    auto evs = engine_->takeEvents();
    Napi::HandleScope scope(env);
    for (auto& e : evs) {
      Napi::Value data = e.data.empty() ? env.Undefined() : Napi::Buffer<uint8_t>::Copy(env, e.data.data(), e.data.size()).As<Napi::Value>();
      onEvent_.Call({Napi::String::New(env, e.type), Napi::Number::New(env, e.id), Napi::Number::New(env, e.a),
                     Napi::Number::New(env, e.b), data});
      if (closed_) return;
    }
  }

  Engine& E() {
    if (closed_) throw std::runtime_error("engine closed");
    return *engine_;
  }

  // createEndpoint({pt, tePt, timeoutMs, rtcpMux, latching}) -> [id, port]
  Napi::Value CreateEndpoint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Engine& eng = E();
    auto o = info[0].As<Napi::Object>();
    auto ep = std::make_unique<Endpoint>();
    std::string err;
    if (!eng.allocPorts(ep->rtpFd, ep->rtcpFd, ep->port, err)) {
      auto e = Napi::Error::New(env, err);
      e.Set("code", Napi::String::New(env, "ENOPORT"));
      throw e;
    }
    ep->id = eng.nextId();
    ep->pt = i32(opt(o, "pt"), 0);
    ep->tePt = i32(opt(o, "tePt"), 101);
    ep->timeoutNs = int64_t(i32(opt(o, "timeoutMs"), 0)) * 1000000;
    ep->rtcpMux = opt(o, "rtcpMux").ToBoolean();
    ep->latching = !opt(o, "latching").IsBoolean() || opt(o, "latching").As<Napi::Boolean>().Value();
    ep->outSsrc = rng_();
    ep->localSeq = uint16_t(rng_());
    ep->localTs = rng_();
    uint32_t id = ep->id;
    uint16_t port = ep->port;
    Endpoint* raw = ep.release();
    eng.post([&eng, raw] { eng.addEndpoint(std::unique_ptr<Endpoint>(raw)); });
    auto arr = Napi::Array::New(env, 2);
    arr.Set(0u, Napi::Number::New(env, id));
    arr.Set(1u, Napi::Number::New(env, port));
    return arr;
  }

  // updateEndpoint(id, {pt?, tePt?, timeoutMs?, latching?, rtcpMux?, remoteAddress?, remotePort?, remoteRtcpPort?})
  Napi::Value UpdateEndpoint(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    uint32_t id = u32(info[0]);
    auto o = info[1].As<Napi::Object>();
    int pt = i32(opt(o, "pt"), -1), te = i32(opt(o, "tePt"), -1), tmo = i32(opt(o, "timeoutMs"), -1);
    int latch = opt(o, "latching").IsBoolean() ? int(opt(o, "latching").ToBoolean()) : -1;
    int mux = opt(o, "rtcpMux").IsBoolean() ? int(opt(o, "rtcpMux").ToBoolean()) : -1;
    bool hasRemote = opt(o, "remoteAddress").IsString();
    sockaddr_in ra{}, rc{};
    if (hasRemote) {
      std::string a = opt(o, "remoteAddress").As<Napi::String>();
      ra.sin_family = AF_INET;
      if (inet_pton(AF_INET, a.c_str(), &ra.sin_addr) != 1) throw Napi::TypeError::New(info.Env(), "remoteAddress: IPv4 address");
      ra.sin_port = htons(uint16_t(u32(opt(o, "remotePort"))));
      rc = ra;
      rc.sin_port = htons(uint16_t(u32(opt(o, "remoteRtcpPort"), u32(opt(o, "remotePort")) + 1)));
    }
    eng.post([&eng, id, pt, te, tmo, latch, mux, hasRemote, ra, rc] {
      auto it = eng.endpoints.find(id);
      if (it == eng.endpoints.end()) return;
      Endpoint* e = it->second.get();
      if (pt >= 0) e->pt = pt;
      if (te >= 0) e->tePt = te;
      if (tmo >= 0) { e->timeoutNs = int64_t(tmo) * 1000000; e->timedOut = false; e->lastRxNs = 0; }
      if (latch >= 0) e->latching = latch != 0;
      if (mux >= 0) e->rtcpMux = mux != 0;
      if (hasRemote) { e->remote = ra; e->remoteRtcp = rc; e->hasRemote = true; e->latched = false; }
    });
    return info.Env().Undefined();
  }

  Napi::Value CloseEndpoint(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    uint32_t id = u32(info[0]);
    Engine& eng = *engine_;
    eng.post([&eng, id] { eng.removeEndpoint(id); });
    return info.Env().Undefined();
  }

  Napi::Value Bridge(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    uint32_t a = u32(info[0]), b = u32(info[1]);
    eng.post([&eng, a, b] {
      auto ia = eng.endpoints.find(a), ib = eng.endpoints.find(b);
      if (ia == eng.endpoints.end() || ib == eng.endpoints.end()) return;
      eng.detach(ia->second.get());
      eng.detach(ib->second.get());
      ia->second->peer = ib->second.get();
      ib->second->peer = ia->second.get();
    });
    return info.Env().Undefined();
  }

  Napi::Value Unbridge(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    Engine& eng = *engine_;
    uint32_t a = u32(info[0]);
    eng.post([&eng, a] {
      auto ia = eng.endpoints.find(a);
      if (ia != eng.endpoints.end() && ia->second->peer) eng.detach(ia->second.get());
    });
    return info.Env().Undefined();
  }

  // createConference({jitterMaxMs, talkerThreshold}) -> id
  Napi::Value CreateConference(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    auto o = info[0].As<Napi::Object>();
    auto c = std::make_unique<Conference>();
    c->id = eng.nextId();
    c->jbMaxSamples = i32(opt(o, "jitterMaxMs"), 200) * 8;
    c->talkerThreshold = i32(opt(o, "talkerThreshold"), 300);
    c->ins.reserve(16);
    c->outs.reserve(16);
    uint32_t id = c->id;
    Conference* raw = c.release();
    eng.post([&eng, raw] { eng.conferences[raw->id] = std::unique_ptr<Conference>(raw); });
    return Napi::Number::New(info.Env(), id);
  }

  Napi::Value ConfAdd(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    uint32_t cid = u32(info[0]), eid = u32(info[1]);
    int32_t gain = int32_t(f64(info[2], 1.0) * 4096.0 + 0.5);
    bool muted = info[3].ToBoolean();
    // Participant buffers are allocated here, on the JS thread, not in the frame loop.
    auto p = std::make_unique<Participant>();
    p->gainQ12 = gain;
    p->muted = muted;
    Participant* raw = p.release();
    eng.post([&eng, cid, eid, raw] {
      std::unique_ptr<Participant> part(raw);
      auto ic = eng.conferences.find(cid);
      auto ie = eng.endpoints.find(eid);
      if (ic == eng.conferences.end() || ie == eng.endpoints.end()) return;
      Conference* c = ic->second.get();
      Endpoint* e = ie->second.get();
      eng.detach(e);
      part->ep = e;
      part->jb.cap = c->jbMaxSamples;
      e->conf = c;
      e->part = part.get();
      c->parts.push_back(std::move(part));
      size_t n = c->parts.size() + c->players.size() + 1;
      if (c->ins.size() < n) { c->ins.resize(n * 2); c->outs.resize(n * 2); }
    });
    return info.Env().Undefined();
  }

  Napi::Value ConfSet(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    uint32_t eid = u32(info[0]);
    int32_t gain = int32_t(f64(info[1], 1.0) * 4096.0 + 0.5);
    bool muted = info[2].ToBoolean();
    eng.post([&eng, eid, gain, muted] {
      auto ie = eng.endpoints.find(eid);
      if (ie == eng.endpoints.end() || !ie->second->part) return;
      ie->second->part->gainQ12 = gain;
      ie->second->part->muted = muted;
    });
    return info.Env().Undefined();
  }

  Napi::Value ConfRemove(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    Engine& eng = *engine_;
    uint32_t eid = u32(info[0]);
    eng.post([&eng, eid] {
      auto ie = eng.endpoints.find(eid);
      if (ie != eng.endpoints.end() && ie->second->conf) eng.detach(ie->second.get());
    });
    return info.Env().Undefined();
  }

  Napi::Value CloseConference(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    Engine& eng = *engine_;
    uint32_t id = u32(info[0]);
    eng.post([&eng, id] { eng.removeConference(id); });
    return info.Env().Undefined();
  }

  // createPlayer(kind: 0 endpoint | 1 conference, targetId, Int16Array, loop) -> id
  Napi::Value CreatePlayer(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    int kind = i32(info[0]);
    uint32_t target = u32(info[1]);
    auto arr = info[2].As<Napi::Int16Array>();
    auto p = std::make_unique<Player>();
    p->id = eng.nextId();
    p->samples.assign(arr.Data(), arr.Data() + arr.ElementLength());
    p->loop = info[3].ToBoolean();
    uint32_t id = p->id;
    Player* raw = p.release();
    eng.post([&eng, raw, kind, target] {
      std::unique_ptr<Player> pl(raw);
      if (kind == 0) {
        auto it = eng.endpoints.find(target);
        if (it == eng.endpoints.end()) { eng.emit(Event{"end", pl->id, 0, 0, "", {}}); return; }
        Endpoint* e = it->second.get();
        if (e->player) eng.removePlayer(e->player->id, true);
        pl->ep = e;
        e->player = pl.get();
      } else {
        auto it = eng.conferences.find(target);
        if (it == eng.conferences.end()) { eng.emit(Event{"end", pl->id, 0, 0, "", {}}); return; }
        Conference* c = it->second.get();
        pl->conf = c;
        c->players.push_back(pl.get());
        size_t n = c->parts.size() + c->players.size();
        if (c->ins.size() < n) { c->ins.resize(n * 2); c->outs.resize(n * 2); }
      }
      eng.players[pl->id] = std::move(pl);
    });
    return Napi::Number::New(info.Env(), id);
  }

  Napi::Value ClosePlayer(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    Engine& eng = *engine_;
    uint32_t id = u32(info[0]);
    eng.post([&eng, id] { eng.removePlayer(id, true); });
    return info.Env().Undefined();
  }

  // createRecorder(kind: 0 endpoint | 1 conference, targetId, path, {silenceMs, silenceThreshold, maxMs}?) -> id
  Napi::Value CreateRecorder(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    int kind = i32(info[0]);
    uint32_t target = u32(info[1]);
    std::string path = info[2].As<Napi::String>();
    double silenceMs = 0, threshold = 200, maxMs = 0;
    if (info.Length() > 3 && info[3].IsObject()) {
      auto o = info[3].As<Napi::Object>();
      silenceMs = f64(opt(o, "silenceMs"), 0);
      threshold = f64(opt(o, "silenceThreshold"), 200);
      maxMs = f64(opt(o, "maxMs"), 0);
    }
    int fd = openWav(path);
    if (fd < 0) {
      auto e = Napi::Error::New(info.Env(), "cannot open " + path + ": " + strerror(errno));
      e.Set("code", Napi::String::New(info.Env(), "EIO"));
      throw e;
    }
    auto r = std::make_unique<Recorder>();
    r->id = eng.nextId();
    r->eng = &eng;
    r->file = std::make_shared<RecordingFile>(fd);
    if (silenceMs > 0) r->silenceSamples = uint64_t(silenceMs * 8);
    if (maxMs > 0) r->maxSamples = uint64_t(maxMs * 8);
    r->silenceEnergy = int64_t(threshold * threshold * kFrame);
    r->pending.reserve(16384);  // a tick of audio plus a gap of up to 1 s, without reallocating
    uint32_t id = r->id;
    Recorder* raw = r.release();
    eng.post([&eng, raw, kind, target] {
      std::unique_ptr<Recorder> rec(raw);
      if (kind == 0) {
        auto it = eng.endpoints.find(target);
        if (it == eng.endpoints.end()) { rec->close(false); return; }
        Endpoint* e = it->second.get();
        if (e->recorder) eng.removeRecorder(e->recorder->id);
        rec->ep = e;
        e->recorder = rec.get();
      } else {
        auto it = eng.conferences.find(target);
        if (it == eng.conferences.end()) { rec->close(false); return; }
        Conference* c = it->second.get();
        if (c->recorder) eng.removeRecorder(c->recorder->id);
        rec->conf = c;
        c->recorder = rec.get();
      }
      eng.recorders[rec->id] = std::move(rec);
    });
    return Napi::Number::New(info.Env(), id);
  }

  Napi::Value CloseRecorder(const Napi::CallbackInfo& info) {
    if (closed_) return info.Env().Undefined();
    Engine& eng = *engine_;
    uint32_t id = u32(info[0]);
    eng.post([&eng, id] { eng.removeRecorder(id); });
    return info.Env().Undefined();
  }

  Napi::Value SendDigits(const Napi::CallbackInfo& info) {
    Engine& eng = E();
    uint32_t id = u32(info[0]);
    std::string digits = info[1].As<Napi::String>();
    int dur = i32(info[2], 100) * 8;
    eng.post([&eng, id, digits, dur] {
      auto it = eng.endpoints.find(id);
      if (it == eng.endpoints.end()) return;
      it->second->dtmfQueue += digits;
      it->second->dtmfDurSamples = dur;
    });
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    Engine& eng = *engine_;
    o.Set("ticks", double(eng.ticks.load()));
    o.Set("rxPackets", double(eng.rxPackets.load()));
    o.Set("txPackets", double(eng.txPackets.load()));
    o.Set("rxRtcp", double(eng.rxRtcp.load()));
    o.Set("txRtcp", double(eng.txRtcp.load()));
    o.Set("lostTicks", double(eng.lostTicks.load()));
    o.Set("lateMaxNs", double(eng.lateMaxNs.load()));
    o.Set("mediaTid", double(eng.tid()));
    o.Set("realtime", eng.realtime());
    auto h = Napi::Array::New(env, 64);
    for (uint32_t i = 0; i < 64; i++) h.Set(i, double(eng.lateHist[i].load()));
    o.Set("lateHist100us", h);
    return o;
  }

  Napi::Value EndpointStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Engine& eng = E();
    uint32_t id = u32(info[0]);
    struct S { bool found = false; uint64_t rx = 0, rxB = 0, tx = 0, drop = 0, rin = 0, rout = 0, jbLate = 0, jbConc = 0; double jitter = 0; int64_t lost = 0; std::string remote; };
    // Shared, not on the stack: if the wait times out, the media thread may still write into it.
    auto sp = std::make_shared<S>();
    S& s = *sp;
    bool ok = eng.query([&eng, id, sp] {
      S& s = *sp;
      auto it = eng.endpoints.find(id);
      if (it == eng.endpoints.end()) return;
      Endpoint* e = it->second.get();
      s.found = true;
      s.rx = e->rxPackets; s.rxB = e->rxBytes; s.tx = e->sent; s.drop = e->dropped; s.rin = e->rtcpIn; s.rout = e->rtcpOut;
      s.jitter = e->jitter / 8.0;
      s.lost = e->rxStarted ? int64_t(e->cycles + e->maxSeq - e->baseSeq + 1) - int64_t(e->received) : 0;
      if (e->part) { s.jbLate = e->part->jb.late; s.jbConc = e->part->jb.concealed; }
      if (e->hasRemote) {
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &e->remote.sin_addr, buf, sizeof buf);
        s.remote = std::string(buf) + ":" + std::to_string(ntohs(e->remote.sin_port));
      }
    });
    if (!ok || !s.found) return env.Null();
    auto o = Napi::Object::New(env);
    o.Set("rxPackets", double(s.rx)); o.Set("rxBytes", double(s.rxB)); o.Set("txPackets", double(s.tx));
    o.Set("dropped", double(s.drop)); o.Set("rtcpIn", double(s.rin)); o.Set("rtcpOut", double(s.rout));
    o.Set("jitterMs", s.jitter); o.Set("lost", double(s.lost));
    o.Set("jbLate", double(s.jbLate)); o.Set("jbConcealed", double(s.jbConc));
    o.Set("remote", s.remote.empty() ? env.Null() : Napi::String::New(env, s.remote).As<Napi::Value>());
    return o;
  }

  Napi::Value ResetStats(const Napi::CallbackInfo& info) {
    engine_->resetStats();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  struct Alive {
    EngineWrap* self;
  };
  std::shared_ptr<Alive> alive_ = std::make_shared<Alive>(Alive{this});
  std::unique_ptr<Engine> engine_;
  Napi::ThreadSafeFunction tsfn_;
  Napi::FunctionReference onEvent_;
  std::mt19937 rng_;
  bool closed_ = false;
};

// addon_hooks.cc: the RTP load generator and the kernel test hooks.
void InitHooks(Napi::Env env, Napi::Object exports);

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", EngineWrap::Init(env));
  InitHooks(env, exports);
  return exports;
}

NODE_API_MODULE(pbx_media, InitAll)
