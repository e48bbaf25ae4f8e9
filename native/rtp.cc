// Per-packet work of an endpoint: receive, latch, relay with header rewriting, DTMF, RTCP.
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstring>
#include <ctime>
#include "engine.h"

namespace pbx {

static inline uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
static inline void wr16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
static inline void wr32(uint8_t* p, uint32_t v) { p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v); }
static inline bool sameAddr(const sockaddr_in& a, const sockaddr_in& b) {
  return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
}

void Engine::addEndpoint(std::unique_ptr<Endpoint> ep) {
  Endpoint* e = ep.get();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = reinterpret_cast<uint64_t>(e);
  epoll_ctl(epfd_, EPOLL_CTL_ADD, e->rtpFd, &ev);
  ev.data.u64 = reinterpret_cast<uint64_t>(e) | 4;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, e->rtcpFd, &ev);
  e->nextRtcpNs = monoNs() + rtcpIntervalNs;
  endpoints[e->id] = std::move(ep);
}

void Engine::detach(Endpoint* e) {
  if (e->peer) {
    e->peer->peer = nullptr;
    e->peer = nullptr;
  }
  if (e->conf) {
    auto& v = e->conf->parts;
    for (size_t i = 0; i < v.size(); i++)
      if (v[i]->ep == e) { v.erase(v.begin() + long(i)); break; }
    e->conf = nullptr;
    e->part = nullptr;
  }
}

void Engine::removeEndpoint(uint32_t id) {
  auto it = endpoints.find(id);
  if (it == endpoints.end()) return;
  Endpoint* e = it->second.get();
  detach(e);
  if (e->player) removePlayer(e->player->id, true);
  if (e->recorder) removeRecorder(e->recorder->id);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, e->rtpFd, nullptr);
  epoll_ctl(epfd_, EPOLL_CTL_DEL, e->rtcpFd, nullptr);
  ::close(e->rtpFd);
  ::close(e->rtcpFd);
  endpoints.erase(it);
}

void Engine::onReadable(Endpoint* ep, bool rtcp) {
  constexpr int kBatch = 16;
  static thread_local mmsghdr msgs[kBatch];
  static thread_local iovec iov[kBatch];
  static thread_local uint8_t bufs[kBatch][1500];
  static thread_local sockaddr_in from[kBatch];
  int fd = rtcp ? ep->rtcpFd : ep->rtpFd;
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < kBatch; i++) {
      iov[i] = {bufs[i], sizeof bufs[i]};
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    int64_t now = monoNs();
    for (int i = 0; i < n; i++) {
      const uint8_t* p = bufs[i];
      size_t len = msgs[i].msg_len;
      // rtcp-mux (RFC 5761): packet types 192..223 on the RTP port are RTCP.
      if (rtcp || (len >= 8 && p[1] >= 192 && p[1] <= 223)) onRtcp(ep, p, len, from[i], now);
      else onRtp(ep, p, len, from[i], now);
    }
    if (n < kBatch) return;
  }
}

void Engine::onRtp(Endpoint* ep, const uint8_t* p, size_t len, const sockaddr_in& from, int64_t now) {
  if (len < 12 || (p[0] >> 6) != 2) { ep->dropped++; return; }
  size_t hdr = 12 + 4 * size_t(p[0] & 0x0F);
  if (p[0] & 0x10) {
    if (len < hdr + 4) { ep->dropped++; return; }
    hdr += 4 + 4 * size_t(rd16(p + hdr + 2));
  }
  if (p[0] & 0x20) {
    if (p[len - 1] > len - 12) { ep->dropped++; return; }
    len -= p[len - 1];
  }
  if (hdr > len) { ep->dropped++; return; }
  // Symmetric RTP: answer where packets really come from. Once latched, another source takes
  // over only after the latched one has been silent for a second (NAT rebinding), not at once.
  if (ep->hasRemote && sameAddr(ep->remote, from)) {
    ep->latched = true;
    ep->lastFromRemoteNs = now;
  } else if (ep->latching && (!ep->latched || now - ep->lastFromRemoteNs > 1000000000LL)) {
    ep->remote = from;
    ep->hasRemote = true;
    ep->latched = true;
    ep->lastFromRemoteNs = now;
    if (!ep->rtcpMux) {
      ep->remoteRtcp = from;
      ep->remoteRtcp.sin_port = htons(uint16_t(ntohs(from.sin_port) + 1));
    }
  }
  ep->lastRxNs = now;
  ep->timedOut = false;
  ep->rxPackets++;
  ep->rxBytes += len;
  rxPackets.fetch_add(1, std::memory_order_relaxed);
  int pt = p[1] & 0x7F;
  uint16_t seq = rd16(p + 2);
  uint32_t ts = rd32(p + 4), ssrc = rd32(p + 8);
  const uint8_t* pay = p + hdr;
  size_t plen = len - hdr;
  if (pt == ep->tePt) {
    dtmfReceive(ep, pay, plen, ts, (p[1] & 0x80) != 0);
    if (ep->peer) relay(ep, ep->peer, p, len, hdr);
    return;
  }
  if (pt != 0 && pt != 8) {
    if (pt == 13 && ep->peer) relay(ep, ep->peer, p, len, hdr);
    else ep->dropped++;
    return;
  }
  // RFC 3550 A.1 / A.8 receive statistics, for our reports.
  if (!ep->rxStarted || ssrc != ep->inSsrc) {
    ep->rxStarted = true;
    ep->inSsrc = ssrc;
    ep->baseSeq = seq;
    ep->maxSeq = seq;
    ep->cycles = 0;
    ep->received = 0;
    ep->expectedPrior = ep->receivedPrior = 0;
    ep->jitter = 0;
    ep->lastTransit = 0;
  } else {
    uint16_t delta = uint16_t(seq - ep->maxSeq);
    if (delta < 0x8000) {
      if (seq < ep->maxSeq) ep->cycles += 65536;
      ep->maxSeq = seq;
    }
  }
  ep->received++;
  int64_t arrival = now / 125000;  // 8 kHz units
  int64_t transit = arrival - int64_t(ts);
  if (ep->lastTransit != 0) {
    int64_t d = transit - ep->lastTransit;
    if (d < 0) d = -d;
    if (d < 80000) ep->jitter += (double(d) - ep->jitter) / 16.0;
  }
  ep->lastTransit = transit;

  if (plen > sizeof scratch_ / 2) plen = sizeof scratch_ / 2;
  bool needPcm = ep->recorder || ep->part;
  if (needPcm) decodeFrame(pt, pay, scratch_, plen);
  if (ep->recorder) ep->recorder->appendRtp(ssrc, ts, scratch_, plen);
  if (ep->part) ep->part->jb.put(ssrc, ts, scratch_, int(plen));
  else if (ep->peer) relay(ep, ep->peer, p, len, hdr);
}

void Engine::relay(Endpoint* from, Endpoint* to, const uint8_t* p, size_t len, size_t hdr) {
  if (to->player || to->dtmfActive) return;  // a prompt or a digit owns that leg's output now
  int pt = p[1] & 0x7F;
  const uint8_t* pay = p + hdr;
  size_t plen = len - hdr;
  uint8_t* out = pkt_ + 12;
  int outPt = pt;
  if (pt == from->tePt) {
    outPt = to->tePt;
    std::memcpy(out, pay, plen);
  } else if (pt == 0 || pt == 8) {
    outPt = to->pt;
    if (pt == to->pt) std::memcpy(out, pay, plen);
    else {
      const uint8_t* t = pt == 0 ? g711.u2a : g711.a2u;
      for (size_t i = 0; i < plen; i++) out[i] = t[pay[i]];
    }
  } else {
    std::memcpy(out, pay, plen);
  }
  uint64_t key = uint64_t(from->id) << 32 | rd32(p + 8);
  sendRtp(to, key, outPt, (p[1] & 0x80) != 0, rd16(p + 2), rd32(p + 4), plen);
}

// Header rewrite for every outgoing packet: one SSRC per endpoint, and when the source changes the
// new source's seq/ts are offset so the stream stays continuous for the receiver.
void Engine::sendRtp(Endpoint* ep, uint64_t key, int pt, bool marker, uint16_t seq, uint32_t ts, size_t plen) {
  if (key != ep->srcKey) {
    if (ep->txStarted) {
      ep->seqOff = uint16_t(ep->outSeq + 1 - seq);
      ep->tsOff = ep->outTs + kFrame - ts;
    } else {
      ep->seqOff = uint16_t(ep->outSsrc >> 7) - seq;
      ep->tsOff = (ep->outSsrc * 2654435761u) - ts;
    }
    ep->srcKey = key;
    if (pt != ep->tePt) marker = true;
  }
  uint16_t s = uint16_t(seq + ep->seqOff);
  uint32_t t = ts + ep->tsOff;
  uint8_t* h = pkt_;
  h[0] = 0x80;
  h[1] = uint8_t((marker ? 0x80 : 0) | (pt & 0x7F));
  wr16(h + 2, s);
  wr32(h + 4, t);
  wr32(h + 8, ep->outSsrc);
  if (uint16_t(s - ep->outSeq) < 0x8000 || !ep->txStarted) {
    ep->outSeq = s;
    ep->outTs = t;
  }
  ep->txStarted = true;
  if (!ep->hasRemote) return;
  ssize_t r = sendto(ep->rtpFd, pkt_, 12 + plen, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&ep->remote), sizeof ep->remote);
  if (r > 0) {
    ep->sent++;
    ep->txPackets++;
    ep->txOctets += uint32_t(plen);
    txPackets.fetch_add(1, std::memory_order_relaxed);
  }
}

void Engine::sendLocal(Endpoint* ep, uint64_t key, const int16_t* pcm) {
  encodeFrame(ep->pt, pcm, pkt_ + 12, kFrame);
  uint16_t seq = ep->localSeq++;
  uint32_t ts = ep->localTs;
  ep->localTs += kFrame;
  sendRtp(ep, key, ep->pt, false, seq, ts, kFrame);
}

static char digitChar(int ev) {
  static const char map[] = "0123456789*#ABCD";
  return ev >= 0 && ev < 16 ? map[ev] : '?';
}
static int digitCode(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c == '*') return 10;
  if (c == '#') return 11;
  if (c >= 'A' && c <= 'D') return 12 + (c - 'A');
  if (c >= 'a' && c <= 'd') return 12 + (c - 'a');
  return -1;
}

// RFC 4733: one event per RTP timestamp; report it once, at its first end packet, or when a new
// event starts without the old one having ended (all end packets lost).
void Engine::dtmfReceive(Endpoint* ep, const uint8_t* p, size_t len, uint32_t ts, bool marker) {
  if (len < 4 || p[0] > 15) return;
  bool end = (p[1] & 0x80) != 0;
  int dur = rd16(p + 2);
  // A new event: new timestamp, another digit, or a marked start after the previous one ended.
  bool restart = marker && !end && ep->dtmfReported;
  if (!ep->dtmfSeen || ts != ep->dtmfTs || p[0] != ep->dtmfLastEvent || restart) {
    if (ep->dtmfSeen && !ep->dtmfReported)
      emit(Event{"dtmf", ep->id, digitChar(ep->dtmfLastEvent), ep->dtmfLastDur / 8, "", {}});
    ep->dtmfSeen = true;
    ep->dtmfTs = ts;
    ep->dtmfReported = false;
  }
  ep->dtmfLastEvent = p[0];
  ep->dtmfLastDur = dur;
  ep->dtmfLastNs = ep->lastRxNs;
  if (end && !ep->dtmfReported) {
    ep->dtmfReported = true;
    emit(Event{"dtmf", ep->id, digitChar(p[0]), dur / 8, "", {}});
  }
}

void Engine::dtmfSendTick(Endpoint* ep) {
  if (!ep->dtmfActive) {
    if (ep->dtmfGap > 0) { ep->dtmfGap--; return; }
    int code = -1;
    while (code < 0 && !ep->dtmfQueue.empty()) {
      code = digitCode(ep->dtmfQueue[0]);
      ep->dtmfQueue.erase(0, 1);
    }
    if (code < 0) return;
    ep->dtmfActive = true;
    ep->dtmfCode = code;
    ep->dtmfElapsed = 0;
    ep->dtmfEnds = 0;
    ep->dtmfKey = (uint64_t(2) << 40) | (++ep->dtmfCount);
  }
  bool first = ep->dtmfElapsed == 0;
  ep->dtmfElapsed += kFrame;
  bool end = ep->dtmfElapsed >= ep->dtmfDurSamples;
  int dur = end ? ep->dtmfDurSamples : ep->dtmfElapsed;
  uint8_t* pay = pkt_ + 12;
  pay[0] = uint8_t(ep->dtmfCode);
  pay[1] = uint8_t((end ? 0x80 : 0) | 10);  // volume -10 dBm0
  wr16(pay + 2, uint16_t(dur > 0xFFFF ? 0xFFFF : dur));
  // All packets of one event share its start timestamp (input ts 0 of this event's source key).
  sendRtp(ep, ep->dtmfKey, ep->tePt, first, ep->localSeq++, 0, 4);
  if (first) ep->dtmfStartTs = ep->outTs;
  if (end && ++ep->dtmfEnds >= 3) {  // the end packet goes out three times
    ep->dtmfActive = false;
    ep->dtmfGap = 3;
    ep->outTs = ep->dtmfStartTs + uint32_t(ep->dtmfDurSamples);
  }
}

void Engine::onRtcp(Endpoint* ep, const uint8_t* p, size_t len, const sockaddr_in& from, int64_t now) {
  if (len < 8 || (p[0] >> 6) != 2) return;
  ep->rtcpIn++;
  rxRtcp.fetch_add(1, std::memory_order_relaxed);
  if (ep->latching && !ep->rtcpMux && ep->hasRemote && from.sin_addr.s_addr == ep->remote.sin_addr.s_addr) ep->remoteRtcp = from;
  if (p[1] == 200 && len >= 28) {
    ep->lastSrMid = (rd32(p + 8) << 16) | (rd32(p + 12) >> 16);
    ep->lastSrNs = now;
  }
  // Reports are rare; a flood must not flood JavaScript: at most 5 events per second per leg.
  if (now - ep->rtcpWindowNs > 1000000000LL) {
    ep->rtcpWindowNs = now;
    ep->rtcpWindowCount = 0;
  }
  if (++ep->rtcpWindowCount > 5) return;
  Event ev{"rtcp", ep->id, 0, 0, "", {}};
  ev.data.assign(p, p + len);
  emit(std::move(ev));
}

// Compound SR or RR (with one report block for the stream we receive) + SDES CNAME.
void Engine::sendRtcp(Endpoint* ep, int64_t now) {
  ep->nextRtcpNs = now + rtcpIntervalNs;
  uint8_t b[128];
  size_t o = 0;
  bool sr = ep->txPackets > 0, rb = ep->rxStarted;
  b[0] = uint8_t(0x80 | (rb ? 1 : 0));
  b[1] = sr ? 200 : 201;
  wr32(b + 4, ep->outSsrc);
  o = 8;
  if (sr) {
    timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint32_t sec = uint32_t(rt.tv_sec + 2208988800LL);
    uint32_t frac = uint32_t((uint64_t(rt.tv_nsec) << 32) / 1000000000ULL);
    wr32(b + o, sec);
    wr32(b + o + 4, frac);
    wr32(b + o + 8, ep->outTs);
    wr32(b + o + 12, ep->txPackets);
    wr32(b + o + 16, ep->txOctets);
    o += 20;
  }
  if (rb) {
    uint32_t ext = ep->cycles + ep->maxSeq;
    uint32_t expected = ext - ep->baseSeq + 1;
    int64_t lost = int64_t(expected) - int64_t(ep->received);
    if (lost > 0x7FFFFF) lost = 0x7FFFFF;
    if (lost < -0x800000) lost = -0x800000;
    uint32_t expInt = expected - ep->expectedPrior, recInt = ep->received - ep->receivedPrior;
    ep->expectedPrior = expected;
    ep->receivedPrior = ep->received;
    int64_t lostInt = int64_t(expInt) - int64_t(recInt);
    uint8_t fraction = (expInt == 0 || lostInt <= 0) ? 0 : uint8_t((lostInt << 8) / expInt);
    wr32(b + o, ep->inSsrc);
    wr32(b + o + 4, uint32_t(fraction) << 24 | (uint32_t(lost) & 0xFFFFFF));
    wr32(b + o + 8, ext);
    wr32(b + o + 12, uint32_t(ep->jitter));
    wr32(b + o + 16, ep->lastSrMid);
    wr32(b + o + 20, ep->lastSrNs ? uint32_t((now - ep->lastSrNs) * 65536 / 1000000000LL) : 0);
    o += 24;
  }
  wr16(b + 2, uint16_t(o / 4 - 1));
  // SDES with a CNAME derived from the SSRC.
  size_t s = o;
  char cname[24];
  int cl = snprintf(cname, sizeof cname, "pbx-%08x", ep->outSsrc);
  b[o] = 0x81;
  b[o + 1] = 202;
  wr32(b + o + 4, ep->outSsrc);
  b[o + 8] = 1;
  b[o + 9] = uint8_t(cl);
  std::memcpy(b + o + 10, cname, size_t(cl));
  o += 10 + size_t(cl);
  b[o++] = 0;
  while (o % 4) b[o++] = 0;
  wr16(b + s + 2, uint16_t((o - s) / 4 - 1));
  int fd = ep->rtcpMux ? ep->rtpFd : ep->rtcpFd;
  const sockaddr_in& to = ep->rtcpMux ? ep->remote : ep->remoteRtcp;
  if (sendto(fd, b, o, MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to), sizeof to) > 0) {
    ep->rtcpOut++;
    txRtcp.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace pbx
