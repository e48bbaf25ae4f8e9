// Recording files are written by a thread of their own, so a slow disk never stalls the media
// thread's 20 ms clock. The media thread hands each recorder's samples, header rewrites and its
// close to the writer through a ring of jobs allocated once (one producer, one consumer); the
// writer reports what reached the disk (errors, full, end) as engine events.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace pbx {

class Engine;

// A file descriptor that closes itself.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() { reset(); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  void reset();

 private:
  int fd_;
};

// One WAV file being recorded: the media thread's Recorder and the writer share it.
struct RecordingFile {
  explicit RecordingFile(int fd) : fd(fd) {}
  FileDescriptor fd;                 // the writer closes it (at the close job, or when dropped)
  std::atomic<uint32_t> written{0};  // data bytes on disk (writer thread)
  std::atomic<int> error{0};         // first write error (writer thread); nothing more is written
};

class DiskWriter {
 public:
  // Bytes of samples one job carries (128 ms), and jobs in the ring.
  static constexpr size_t kChunk = 2048;
  static constexpr size_t kSlots = 4096;

  explicit DiskWriter(Engine* eng);
  ~DiskWriter();
  void start();
  // Writes every job queued so far, then ends the thread.
  void stop();

  // Media thread. Each returns false when the ring is full (nothing was queued: try next tick).
  // `offset`: the data byte where the samples go; `n` at most kChunk / 2 samples.
  bool data(const std::shared_ptr<RecordingFile>& f, uint32_t id, uint32_t offset, const int16_t* s, size_t n);
  // The header rewritten to declare what reached the disk; with `full` the recorder's 'full'
  // event follows (the data before it is on disk by then).
  bool header(const std::shared_ptr<RecordingFile>& f, uint32_t id, bool full);
  // Last header, fsync, close; `emitEnd`: the recorder's 'end' event, once the file is complete.
  bool close(const std::shared_ptr<RecordingFile>& f, uint32_t id, bool emitEnd);
  // Jobs waiting (for tests and stats).
  size_t queued() const { return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire); }

 private:
  enum class Kind : uint8_t { Data, Header, Full, Close, CloseQuiet };
  struct Job {
    Kind kind = Kind::Data;
    uint32_t id = 0;
    uint32_t offset = 0;
    uint32_t bytes = 0;
    std::shared_ptr<RecordingFile> file;
    uint8_t buf[kChunk];
  };
  Job* claim();
  void publish();
  void run();
  void write(Job& j);
  void fail(Job& j, int err);

  Engine* eng_;
  std::vector<Job> ring_;
  std::atomic<size_t> head_{0}, tail_{0};  // head: next to fill (media), tail: next to write (writer)
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace pbx
