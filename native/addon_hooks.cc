// Test hooks (the same kernels the frame loop runs) and the benchmark's RTP load generator.
#include <napi.h>
#include <chrono>
#include <random>
#include "engine.h"
#include "generator.h"

using namespace pbx;

static uint32_t u32(const Napi::Value& v, uint32_t dflt = 0) { return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt; }
static int32_t i32(const Napi::Value& v, int32_t dflt = 0) { return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt; }

class GeneratorWrap : public Napi::ObjectWrap<GeneratorWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Generator", {
      InstanceMethod("start", &GeneratorWrap::Start),
      InstanceMethod("pause", &GeneratorWrap::Pause),
      InstanceMethod("stop", &GeneratorWrap::Stop),
      InstanceMethod("stats", &GeneratorWrap::Stats),
      InstanceAccessor("port", &GeneratorWrap::Port, nullptr),
    });
  }
  explicit GeneratorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GeneratorWrap>(info) {
    gen_ = std::make_unique<Generator>(info[0].As<Napi::String>().Utf8Value());
    if (!gen_->ok()) throw Napi::Error::New(info.Env(), "generator: cannot bind");
  }
 private:
  // start(ports: number[], pt, payload: Uint8Array, groups, rtPriority)
  Napi::Value Start(const Napi::CallbackInfo& info) {
    auto a = info[0].As<Napi::Array>();
    std::vector<uint16_t> ports(a.Length());
    for (uint32_t i = 0; i < a.Length(); i++) ports[i] = uint16_t(u32(a.Get(i)));
    auto pl = info[2].As<Napi::Uint8Array>();
    std::vector<uint8_t> payload(pl.Data(), pl.Data() + pl.ElementLength());
    gen_->start(ports, i32(info[1]), payload, i32(info[3], 4), i32(info[4], 0));
    return info.Env().Undefined();
  }
  Napi::Value Pause(const Napi::CallbackInfo& info) { gen_->pause(); return info.Env().Undefined(); }
  Napi::Value Stop(const Napi::CallbackInfo& info) { gen_->stop(); return info.Env().Undefined(); }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    auto o = Napi::Object::New(info.Env());
    o.Set("sent", double(gen_->sent.load()));
    o.Set("received", double(gen_->received.load()));
    o.Set("errors", double(gen_->errors.load()));
    return o;
  }
  Napi::Value Port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), gen_->port()); }
  std::unique_ptr<Generator> gen_;
};

// ---- test hooks: the same kernels the frame loop runs ----

static Napi::Value EncodeUlaw(const Napi::CallbackInfo& info) {
  auto in = info[0].As<Napi::Int16Array>();
  auto out = Napi::Uint8Array::New(info.Env(), in.ElementLength());
  encodeFrame(0, in.Data(), out.Data(), in.ElementLength());
  return out;
}
static Napi::Value EncodeAlaw(const Napi::CallbackInfo& info) {
  auto in = info[0].As<Napi::Int16Array>();
  auto out = Napi::Uint8Array::New(info.Env(), in.ElementLength());
  encodeFrame(8, in.Data(), out.Data(), in.ElementLength());
  return out;
}
static Napi::Value DecodeUlaw(const Napi::CallbackInfo& info) {
  auto in = info[0].As<Napi::Uint8Array>();
  auto out = Napi::Int16Array::New(info.Env(), in.ElementLength());
  decodeFrame(0, in.Data(), out.Data(), in.ElementLength());
  return out;
}
static Napi::Value DecodeAlaw(const Napi::CallbackInfo& info) {
  auto in = info[0].As<Napi::Uint8Array>();
  auto out = Napi::Int16Array::New(info.Env(), in.ElementLength());
  decodeFrame(8, in.Data(), out.Data(), in.ElementLength());
  return out;
}
static Napi::Value Transcode(const Napi::CallbackInfo& info) {
  auto in = info[0].As<Napi::Uint8Array>();
  bool toAlaw = info[1].ToBoolean();
  auto out = Napi::Uint8Array::New(info.Env(), in.ElementLength());
  const uint8_t* t = toAlaw ? g711.u2a : g711.a2u;
  for (size_t i = 0; i < in.ElementLength(); i++) out[i] = t[in[i]];
  return out;
}

// mixMinus(frames: Int16Array[] (equal length)) -> Int16Array[]
static Napi::Value MixMinus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = info[0].As<Napi::Array>();
  uint32_t n = a.Length();
  if (n == 0) return Napi::Array::New(env, 0);
  size_t len = a.Get(0u).As<Napi::Int16Array>().ElementLength();
  std::vector<const int16_t*> ins(n);
  std::vector<int16_t*> outs(n);
  std::vector<int32_t> sum(len);
  auto res = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) {
    auto f = a.Get(i).As<Napi::Int16Array>();
    if (f.ElementLength() != len) throw Napi::TypeError::New(env, "frames: equal lengths");
    ins[i] = f.Data();
    auto o = Napi::Int16Array::New(env, len);
    outs[i] = o.Data();
    res.Set(i, o);
  }
  mixMinus(ins.data(), outs.data(), int(n), sum.data(), len);
  return res;
}

// benchMix(participants, frames) -> nanoseconds per participant-frame of mixMinus, timed in C++.
static Napi::Value BenchMix(const Napi::CallbackInfo& info) {
  int n = i32(info[0]), frames = i32(info[1]);
  std::vector<int16_t> data(size_t(n) * kFrame * 2);
  std::mt19937 r(1);
  for (auto& s : data) s = int16_t(int(r() % 16000) - 8000);
  std::vector<const int16_t*> ins(n);
  std::vector<int16_t*> outs(n);
  for (int i = 0; i < n; i++) {
    ins[i] = &data[size_t(i) * kFrame];
    outs[i] = &data[size_t(n + i) * kFrame];
  }
  int32_t sum[kFrame];
  auto t0 = std::chrono::steady_clock::now();
  for (int f = 0; f < frames; f++) {
    mixMinus(ins.data(), outs.data(), n, sum, kFrame);
    asm volatile("" ::: "memory");
  }
  auto t1 = std::chrono::steady_clock::now();
  double ns = double(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  return Napi::Number::New(info.Env(), ns / (double(n) * frames));
}

void InitHooks(Napi::Env env, Napi::Object exports) {
  exports.Set("Generator", GeneratorWrap::Init(env));
  exports.Set("encodeUlaw", Napi::Function::New(env, EncodeUlaw));
  exports.Set("encodeAlaw", Napi::Function::New(env, EncodeAlaw));
  exports.Set("decodeUlaw", Napi::Function::New(env, DecodeUlaw));
  exports.Set("decodeAlaw", Napi::Function::New(env, DecodeAlaw));
  exports.Set("transcode", Napi::Function::New(env, Transcode));
  exports.Set("mixMinus", Napi::Function::New(env, MixMinus));
  exports.Set("benchMix", Napi::Function::New(env, BenchMix));
}
