// Frame-clocked work: jitter buffers, conference mix-minus, players and recorders.
#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>
#include "engine.h"

namespace pbx {

void JitterBuffer::reset(uint32_t s, uint32_t ts) {
  std::memset(valid, 0, sizeof valid);
  started = true;
  waiting = true;
  ssrc = s;
  playTs = ts;
  highTs = ts;
  overDepthTicks = 0;
}

void JitterBuffer::put(uint32_t s, uint32_t ts, const int16_t* x, int n) {
  if (n <= 0) return;
  if (n > kJbRing / 2) n = kJbRing / 2;
  int32_t rel = int32_t(ts - playTs);
  // New source, or a timestamp jump beyond the ring: start over.
  if (!started || s != ssrc || rel > kJbRing * 4 || rel < -kJbRing * 4) {
    reset(s, ts);
    rel = int32_t(ts - playTs);
  }
  if (rel < 0) { late++; return; }
  if (rel + n > kJbRing) {  // far ahead of playout: jump forward
    dropped++;
    reset(s, ts);
    rel = int32_t(ts - playTs);
  }
  for (int i = 0; i < n; i++) {
    uint32_t k = (ts + uint32_t(i)) & (kJbRing - 1);
    ring[k] = x[i];
    valid[k] = 1;
  }
  if (int32_t(ts + uint32_t(n) - highTs) > 0) highTs = ts + uint32_t(n);
  // Capped depth: never hold more than cap samples; drop the oldest.
  int32_t depth = int32_t(highTs - playTs);
  if (depth > cap) {
    uint32_t newPlay = highTs - uint32_t(target);
    for (uint32_t t = playTs; t != newPlay; t++) valid[t & (kJbRing - 1)] = 0;
    playTs = newPlay;
    dropped++;
  }
}

bool JitterBuffer::get(int16_t* out) {
  // Playout starts once the target delay is buffered.
  if (waiting && started && int32_t(highTs - playTs) >= target) waiting = false;
  if (!started || waiting) {
    std::memset(out, 0, sizeof(int16_t) * kFrame);
    return false;
  }
  int have = 0;
  for (int i = 0; i < kFrame; i++) {
    uint32_t k = (playTs + uint32_t(i)) & (kJbRing - 1);
    if (valid[k]) {
      out[i] = ring[k];
      valid[k] = 0;
      have++;
    } else {
      out[i] = 0;
    }
  }
  playTs += kFrame;
  if (have == 0) {
    // Concealment: repeat the last frame, fading by half each time, then silence.
    concealed++;
    plcCount++;
    if (plcCount <= 4) {
      int shift = plcCount;
      for (int i = 0; i < kFrame; i++) out[i] = int16_t(last[i] >> shift);
    }
    // An underrun while audio keeps coming means the delay is too small: grow it, up to the cap.
    if (int32_t(highTs - playTs) > -kFrame * 2 && target + kFrame / 2 <= cap) {
      target += kFrame / 2;
      playTs -= kFrame / 2;
    }
    return plcCount <= 4;
  }
  plcCount = 0;
  std::memcpy(last, out, sizeof last);
  // Held more than needed for a while: shrink toward the target by skipping half a frame.
  if (int32_t(highTs - playTs) > target + kFrame) {
    if (++overDepthTicks > 50) {
      playTs += kFrame / 2;
      overDepthTicks = 0;
      if (target > kFrame) target -= kFrame / 2;
    }
  } else {
    overDepthTicks = 0;
  }
  return true;
}

bool Player::next() {
  if (done) return false;
  size_t n = samples.size();
  if (n == 0 || (!loop && pos >= n)) {
    done = true;
    return false;
  }
  for (int i = 0; i < kFrame; i++) {
    if (pos >= n) {
      if (loop) pos = 0;
      else { frame[i] = 0; continue; }
    }
    frame[i] = samples[pos++];
  }
  return true;
}

static void wavHeader(uint8_t* h, uint32_t dataBytes) {
  auto w32 = [](uint8_t* p, uint32_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v >> 16); p[3] = uint8_t(v >> 24); };
  auto w16 = [](uint8_t* p, uint16_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); };
  std::memcpy(h, "RIFF", 4);
  w32(h + 4, 36 + dataBytes);
  std::memcpy(h + 8, "WAVEfmt ", 8);
  w32(h + 16, 16);
  w16(h + 20, 1);
  w16(h + 22, 1);
  w32(h + 24, 8000);
  w32(h + 28, 16000);
  w16(h + 32, 2);
  w16(h + 34, 16);
  std::memcpy(h + 36, "data", 4);
  w32(h + 40, dataBytes);
}

int openWav(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  uint8_t h[44];
  wavHeader(h, 0);
  if (::write(fd, h, 44) != 44) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Takes samples into the file's queue. Stops at maxSamples ('full') and after a failed write;
// measures each 20 ms frame of what is taken for the silence event. No allocation: `pending` is
// reserved at creation for a tick plus a 1 s gap.
void Recorder::append(const int16_t* s, size_t n) {
  if (full || failed) return;
  if (maxSamples > 0 && accepted + n >= maxSamples) {
    n = size_t(maxSamples - accepted);
    full = true;
  }
  accepted += n;
  if (s) pending.insert(pending.end(), s, s + n);
  else pending.insert(pending.end(), n, int16_t(0));
  if (silenceSamples == 0) return;
  for (size_t i = 0; i < n;) {
    size_t take = std::min(n - i, size_t(kFrame - frameFill));
    if (s)
      for (size_t k = i; k < i + take; k++) frameEnergy += int32_t(s[k]) * s[k];
    frameFill += int(take);
    i += take;
    if (frameFill < kFrame) break;
    if (frameEnergy < silenceEnergy) {
      silentRun += kFrame;
      if (!silenceFired && silentRun >= silenceSamples) {
        silenceFired = true;
        eng->emit(Event{"silence", id, int32_t(silentRun / 8), 0, "", {}});
      }
    } else {
      silentRun = 0;
      silenceFired = false;
    }
    frameEnergy = 0;
    frameFill = 0;
  }
}

void Recorder::appendRtp(uint32_t ssrc, uint32_t ts, const int16_t* s, size_t n) {
  if (rtpStarted && ssrc == rtpSsrc) {
    int32_t gap = int32_t(ts - rtpNextTs);
    if (gap < 0) return;  // late or duplicate: its place in the file is already written
    if (gap > 0 && gap <= 8000) append(nullptr, size_t(gap));
  }
  rtpStarted = true;
  rtpSsrc = ssrc;
  rtpNextTs = ts + uint32_t(n);
  append(s, n);
}

// Whole chunks go to the writer every 100 ms (a tick of audio per job would be five times the
// jobs); what the ring cannot take now stays pending for the next tick. A failed write is the
// writer's to report; from then on nothing more is taken.
void Recorder::flush(int64_t now, bool force) {
  if (!file) return;
  if (file->error.load(std::memory_order_relaxed)) {
    failed = true;
    pending.clear();
    return;
  }
  DiskWriter& w = eng->writer();
  constexpr size_t chunk = DiskWriter::kChunk / 2;
  size_t sent = 0, n = pending.size();
  if (force || full || n >= 800) {
    while (sent < n) {
      size_t take = std::min(chunk, n - sent);
      if (!w.data(file, id, dataBytes, pending.data() + sent, take)) break;
      dataBytes += uint32_t(take * 2);
      sent += take;
    }
    pending.erase(pending.begin(), pending.begin() + long(sent));
  }
  bool reportFull = full && !fullReported && pending.empty();
  if (reportFull || force || now - lastHeaderNs >= 500000000LL) {
    if (w.header(file, id, reportFull)) {
      lastHeaderNs = now;
      if (reportFull) fullReported = true;
    }
  }
}

void Recorder::close(bool emitEnd) {
  if (!file) return;
  // the last of the data and the close must reach the writer; a full ring (a disk far behind)
  // is waited for, up to 2 s, rather than losing them
  for (int i = 0; i < 2000; i++) {
    flush(monoNs(), true);
    if (pending.empty() && eng->writer().close(file, id, emitEnd)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  file.reset();
}

void Engine::removePlayer(uint32_t id, bool emitEnd) {
  auto it = players.find(id);
  if (it == players.end()) return;
  Player* p = it->second.get();
  if (p->ep && p->ep->player == p) p->ep->player = nullptr;
  if (p->conf) {
    auto& v = p->conf->players;
    for (size_t i = 0; i < v.size(); i++)
      if (v[i] == p) { v.erase(v.begin() + long(i)); break; }
  }
  if (emitEnd) emit(Event{"end", id, p->done ? 1 : 0, 0, "", {}});
  players.erase(it);
}

void Engine::removeRecorder(uint32_t id) {
  auto it = recorders.find(id);
  if (it == recorders.end()) return;
  Recorder* r = it->second.get();
  if (r->ep && r->ep->recorder == r) r->ep->recorder = nullptr;
  if (r->conf && r->conf->recorder == r) r->conf->recorder = nullptr;
  r->close(true);  // the writer says 'end' once the file is complete
  recorders.erase(it);
}

void Engine::removeConference(uint32_t id) {
  auto it = conferences.find(id);
  if (it == conferences.end()) return;
  Conference* c = it->second.get();
  while (!c->parts.empty()) detach(c->parts.back()->ep);
  while (!c->players.empty()) removePlayer(c->players.back()->id, true);
  if (c->recorder) removeRecorder(c->recorder->id);
  conferences.erase(it);
}

void Engine::mixConference(Conference* c, int64_t now) {
  size_t np = c->parts.size(), n = np + c->players.size();
  if (n == 0) return;
  if (c->ins.size() < n) {  // only when the conference grew since the last tick
    c->ins.resize(n);
    c->outs.resize(n);
  }
  for (size_t i = 0; i < np; i++) {
    Participant* p = c->parts[i].get();
    bool real = p->jb.get(p->in);
    // Talker detection on the participant's own input, with hysteresis.
    if (real) {
      int64_t e = 0;
      for (int s = 0; s < kFrame; s++) e += int32_t(p->in[s]) * p->in[s];
      int32_t rms = int32_t(std::sqrt(double(e) / kFrame));
      if (rms >= c->talkerThreshold) { p->aboveTicks++; p->belowTicks = 0; }
      else { p->belowTicks++; p->aboveTicks = 0; }
      if (!p->talking && p->aboveTicks >= 3) {
        p->talking = true;
        emit(Event{"talker", c->id, int32_t(p->ep->id), 1, "", {}});
      }
    } else {
      p->belowTicks++;
      p->aboveTicks = 0;
    }
    if (p->talking && p->belowTicks >= 25) {
      p->talking = false;
      emit(Event{"talker", c->id, int32_t(p->ep->id), 0, "", {}});
    }
    if (p->muted) {
      c->ins[i] = nullptr;
    } else {
      applyGain(p->in, p->contrib, kFrame, p->gainQ12);
      c->ins[i] = p->contrib;
    }
    c->outs[i] = p->out;
  }
  for (size_t j = 0; j < c->players.size(); j++) {
    Player* pl = c->players[j];
    c->ins[np + j] = pl->next() ? pl->frame : nullptr;
    c->outs[np + j] = nullptr;
  }
  mixMinus(c->ins.data(), c->outs.data(), int(n), c->sum, kFrame);
  uint64_t key = (uint64_t(3) << 40) | c->id;
  for (size_t i = 0; i < np; i++) {
    Endpoint* e = c->parts[i]->ep;
    if (e->player || e->dtmfActive) continue;
    sendLocal(e, key, c->parts[i]->out);
  }
  if (c->recorder) {
    for (int s = 0; s < kFrame; s++) c->mix[s] = sat16(c->sum[s]);
    c->recorder->append(c->mix, kFrame);
  }
  (void)now;
}

}  // namespace pbx
