// The recording writer thread (see writer.h).
#include "writer.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "engine.h"

namespace pbx {

void FileDescriptor::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// The 44-byte header of a 16-bit 8 kHz mono WAV holding `dataBytes`.
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

static int writeHeader(int fd, uint32_t dataBytes) {
  uint8_t h[44];
  wavHeader(h, dataBytes);
  return ::pwrite(fd, h, 44, 0) == 44 ? 0 : (errno ? errno : EIO);
}

DiskWriter::DiskWriter(Engine* eng) : eng_(eng), ring_(kSlots) {}

DiskWriter::~DiskWriter() { stop(); }

void DiskWriter::start() {
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void DiskWriter::stop() {
  if (!running_.exchange(false)) return;
  {
    std::lock_guard<std::mutex> g(mu_);
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

DiskWriter::Job* DiskWriter::claim() {
  size_t head = head_.load(std::memory_order_relaxed);
  if (head - tail_.load(std::memory_order_acquire) >= kSlots) return nullptr;
  return &ring_[head % kSlots];
}

void DiskWriter::publish() {
  head_.fetch_add(1, std::memory_order_release);
  // the writer may be asleep: wake it (the lock orders this with its check of the ring)
  { std::lock_guard<std::mutex> g(mu_); }
  cv_.notify_one();
}

bool DiskWriter::data(const std::shared_ptr<RecordingFile>& f, uint32_t id, uint32_t offset, const int16_t* s, size_t n) {
  Job* j = claim();
  if (!j) return false;
  j->kind = Kind::Data;
  j->file = f;
  j->id = id;
  j->offset = offset;
  j->bytes = uint32_t(n * 2);
  std::memcpy(j->buf, s, n * 2);
  publish();
  return true;
}

bool DiskWriter::header(const std::shared_ptr<RecordingFile>& f, uint32_t id, bool full) {
  Job* j = claim();
  if (!j) return false;
  j->kind = full ? Kind::Full : Kind::Header;
  j->file = f;
  j->id = id;
  publish();
  return true;
}

bool DiskWriter::close(const std::shared_ptr<RecordingFile>& f, uint32_t id, bool emitEnd) {
  Job* j = claim();
  if (!j) return false;
  j->kind = emitEnd ? Kind::Close : Kind::CloseQuiet;
  j->file = f;
  j->id = id;
  publish();
  return true;
}

void DiskWriter::run() {
  for (;;) {
    size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_.load(std::memory_order_acquire)) {
      if (!running_) return;  // stopped and every job written
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(100), [&] { return tail != head_.load(std::memory_order_acquire) || !running_; });
      continue;
    }
    Job& j = ring_[tail % kSlots];
    write(j);
    j.file.reset();  // the last reference closes the file
    tail_.store(tail + 1, std::memory_order_release);
  }
}

// A failed or short write ends the file's writing: the header then declares exactly the whole
// samples that reached it, and the recorder hears 'error'.
void DiskWriter::fail(Job& j, int err) {
  RecordingFile& f = *j.file;
  int expected = 0;
  if (!f.error.compare_exchange_strong(expected, err)) return;
  uint32_t whole = f.written.load() & ~uint32_t(1);
  (void)!::ftruncate(f.fd.get(), off_t(44 + whole));
  writeHeader(f.fd.get(), whole);
  eng_->emit(Event{"error", j.id, err, 0, "", {}});
}

void DiskWriter::write(Job& j) {
  RecordingFile& f = *j.file;
  int fd = f.fd.get();
  switch (j.kind) {
    case Kind::Data: {
      if (f.error.load() || fd < 0) return;
      size_t done = 0;
      while (done < j.bytes) {
        ssize_t w = ::pwrite(fd, j.buf + done, j.bytes - done, off_t(44 + j.offset + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          f.written.store(j.offset + uint32_t(done));
          return fail(j, w < 0 ? errno : ENOSPC);
        }
        done += size_t(w);
      }
      f.written.store(j.offset + j.bytes);
      return;
    }
    case Kind::Header:
    case Kind::Full:
      if (f.error.load() || fd < 0) return;
      if (int err = writeHeader(fd, f.written.load())) return fail(j, err);
      if (j.kind == Kind::Full) eng_->emit(Event{"full", j.id, int32_t(f.written.load() / 16), 0, "", {}});
      return;
    case Kind::Close:
    case Kind::CloseQuiet:
      if (fd >= 0) {
        if (!f.error.load()) writeHeader(fd, f.written.load());
        ::fsync(fd);
        f.fd.reset();
      }
      if (j.kind == Kind::Close) eng_->emit(Event{"end", j.id, int32_t(f.written.load() / 2), 0, "", {}});
      return;
  }
}

}  // namespace pbx
