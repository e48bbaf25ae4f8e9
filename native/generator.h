// RTP load generator and sink for benchmarks: one socket, one thread, batched sends on an absolute
// 20 ms clock to a list of ports, counting every packet that comes back.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace pbx {

class Generator {
 public:
  explicit Generator(const std::string& address);
  ~Generator();
  int port() const { return port_; }
  bool ok() const { return fd_ >= 0; }
  void start(const std::vector<uint16_t>& ports, int pt, const std::vector<uint8_t>& payload, int groups, int rtPriority = 0);
  void pause() { sending_ = false; }
  void stop();
  std::atomic<uint64_t> sent{0}, received{0}, errors{0};

 private:
  void run();
  int fd_ = -1, port_ = 0;
  uint32_t addr_ = 0;
  std::vector<uint16_t> ports_;
  std::vector<uint8_t> payload_;
  int pt_ = 0, groups_ = 4, rtPriority_ = 0;
  std::atomic<bool> running_{false}, sending_{false};
  std::thread thread_;
};

}  // namespace pbx
