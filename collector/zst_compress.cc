#include "collector/zst_compress.h"

#include <zstd.h>

#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/format/log_layout.h"

namespace ziggy {
namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool Stopped(const CompressOptions& options) {
  return options.stop && options.stop();
}

absl::Status ZstdError(absl::string_view what, size_t code,
                       const std::string& path) {
  return absl::DataLossError(
      absl::StrCat(what, " ", path, ": ", ZSTD_getErrorName(code)));
}

absl::Status AppendAll(File& file, absl::string_view data) {
  size_t written = 0;
  return file.Append(data, &written);
}

// Compresses `path` into the open `out`, chunk by chunk; *in_bytes and
// *out_bytes get the sizes.
absl::Status CompressInto(const std::string& path, File& out,
                          const CompressOptions& options,
                          CompressedFile* sizes) {
  absl::StatusOr<std::unique_ptr<File>> in =
      options.fs->Open(path, OpenOptions::ReadOnly());
  if (!in.ok()) return in.status();
  std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, options.level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  std::string chunk;
  std::string buffer(ZSTD_CStreamOutSize(), '\0');
  bool last = false;
  while (!last) {
    if (Stopped(options)) return absl::CancelledError("stopping");
    chunk.clear();
    if (absl::Status s =
            (*in)->Read(sizes->original_bytes, options.chunk_bytes, &chunk);
        !s.ok()) {
      return s;
    }
    (*in)->DropCache(sizes->original_bytes, chunk.size());
    sizes->original_bytes += chunk.size();
    last = chunk.empty();
    ZSTD_inBuffer input{chunk.data(), chunk.size(), 0};
    size_t remaining;
    do {
      ZSTD_outBuffer output{buffer.data(), buffer.size(), 0};
      remaining = ZSTD_compressStream2(cctx.get(), &output, &input,
                                       last ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(remaining)) {
        return ZstdError("cannot compress", remaining, path);
      }
      if (absl::Status s = AppendAll(out, {buffer.data(), output.pos});
          !s.ok()) {
        return s;
      }
      sizes->compressed_bytes += output.pos;
    } while (last ? remaining != 0 : input.pos < input.size);
  }
  return absl::OkStatus();
}

// Reads `original` from *offset on, comparing with `data`.
absl::Status CompareNext(File& original, absl::string_view data,
                         uint64_t* offset, const std::string& path) {
  std::string expected;
  if (absl::Status s = original.Read(*offset, data.size(), &expected);
      !s.ok()) {
    return s;
  }
  original.DropCache(*offset, expected.size());
  *offset += expected.size();
  if (expected != data) {
    return absl::DataLossError(
        absl::StrCat(path, " differs from its compressed copy"));
  }
  return absl::OkStatus();
}

// Creates `tmp` (emptied), fills it with `fill`, fsyncs it.
absl::Status WriteTmp(const std::string& tmp, const CompressOptions& options,
                      const std::function<absl::Status(File&)>& fill) {
  OpenOptions create = OpenOptions::Append(/*create=*/true);
  create.truncate = true;
  absl::StatusOr<std::unique_ptr<File>> out = options.fs->Open(tmp, create);
  if (!out.ok()) return out.status();
  if (absl::Status s = fill(**out); !s.ok()) return s;
  return (*out)->Sync();
}

// Renames `tmp` to `final` (removing `tmp` when that fails), fsyncs the
// directory, unlinks `old`, fsyncs the directory again.
absl::Status RenameThenRemove(const std::string& tmp, const std::string& final,
                              const std::string& old, FileSystem* fs) {
  if (absl::Status s = fs->Rename(tmp, final); !s.ok()) {
    fs->Remove(tmp).IgnoreError();
    return s;
  }
  const std::string dir = DirOf(final);
  if (absl::Status s = fs->SyncDirectory(dir); !s.ok()) return s;
  if (absl::Status s = fs->Remove(old); !s.ok()) return s;
  return fs->SyncDirectory(dir);
}

// Steps 1 and 2; the .tmp is removed when they fail.
absl::Status WriteAndVerifyTmp(const std::string& path, const std::string& tmp,
                               const CompressOptions& options,
                               CompressedFile* sizes) {
  absl::Status s = WriteTmp(tmp, options, [&](File& out) {
    return CompressInto(path, out, options, sizes);
  });
  if (s.ok()) s = VerifyCompressed(tmp, path, options);
  if (!s.ok()) options.fs->Remove(tmp).IgnoreError();
  return s;
}

// `<zst>.conflict-<unix seconds>`, with "-2", "-3", ... after it when
// that name is taken (two conflicts of one file in a second).
std::string ConflictName(const std::string& zst, FileSystem* fs) {
  const std::string base =
      absl::StrCat(zst, kZstConflictSuffix, absl::ToUnixSeconds(absl::Now()));
  std::string name = base;
  for (int n = 2; fs->Stat(name).ok(); ++n) name = absl::StrCat(base, "-", n);
  return name;
}

// Decompresses `zst` (streaming, polling options.stop between chunks),
// handing each piece of output to `sink`; kDataLoss when it is not whole
// zstd frames (a frame cut short, or no input at all).
absl::Status DecompressEach(
    const std::string& zst, const CompressOptions& options,
    const std::function<absl::Status(absl::string_view)>& sink) {
  absl::StatusOr<std::unique_ptr<File>> in =
      options.fs->Open(zst, OpenOptions::ReadOnly());
  if (!in.ok()) return in.status();
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  std::string chunk;
  std::string buffer(ZSTD_DStreamOutSize(), '\0');
  uint64_t offset = 0;
  size_t frame_left = 1;  // ZSTD_decompressStream's hint; 0 at a frame's end
  while (true) {
    if (Stopped(options)) return absl::CancelledError("stopping");
    chunk.clear();
    if (absl::Status s = (*in)->Read(offset, options.chunk_bytes, &chunk);
        !s.ok()) {
      return s;
    }
    if (chunk.empty()) break;
    offset += chunk.size();
    ZSTD_inBuffer input{chunk.data(), chunk.size(), 0};
    ZSTD_outBuffer output;
    do {  // a full output buffer may leave more to flush
      output = {buffer.data(), buffer.size(), 0};
      frame_left = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(frame_left)) {
        return ZstdError("cannot decompress", frame_left, zst);
      }
      if (absl::Status s = sink({buffer.data(), output.pos}); !s.ok()) {
        return s;
      }
    } while (input.pos < input.size || output.pos == output.size);
  }
  if (frame_left != 0 || offset == 0) {
    return absl::DataLossError(absl::StrCat(zst, " is not whole zstd frames"));
  }
  return absl::OkStatus();
}

// `zst` decompressed into `tmp`, synced; the .tmp removed on failure.
absl::Status WriteRestoredTmp(const std::string& zst, const std::string& tmp,
                              const CompressOptions& options, uint64_t* bytes) {
  const absl::Status s = WriteTmp(tmp, options, [&](File& out) {
    return DecompressEach(zst, options, [&](absl::string_view data) {
      *bytes += data.size();
      return AppendAll(out, data);
    });
  });
  if (!s.ok()) options.fs->Remove(tmp).IgnoreError();
  return s;
}

}  // namespace

absl::Status VerifyCompressed(const std::string& zst,
                              const std::string& original,
                              const CompressOptions& options) {
  absl::StatusOr<std::unique_ptr<File>> orig =
      options.fs->Open(original, OpenOptions::ReadOnly());
  if (!orig.ok()) return orig.status();
  uint64_t original_offset = 0;
  if (absl::Status s = DecompressEach(
          zst, options,
          [&](absl::string_view data) {
            return CompareNext(**orig, data, &original_offset, original);
          });
      !s.ok()) {
    return s;
  }
  std::string rest;
  if (absl::Status s = (*orig)->Read(original_offset, 1, &rest); !s.ok()) {
    return s;
  }
  if (!rest.empty()) {
    return absl::DataLossError(
        absl::StrCat(zst, " is not a whole compressed copy of ", original));
  }
  return absl::OkStatus();
}

absl::StatusOr<CompressedFile> CompressFileDurably(
    const std::string& path, const CompressOptions& options) {
  const std::string zst = path + kCompressedSuffix;
  const std::string tmp = path + kCompressingSuffix;
  CompressedFile sizes;
  if (absl::Status s = WriteAndVerifyTmp(path, tmp, options, &sizes); !s.ok()) {
    return s;
  }
  // Once renamed, both exist until the original goes: a failure leaves
  // them for ResolveTwin().
  if (absl::Status s = RenameThenRemove(tmp, zst, path, options.fs); !s.ok()) {
    return s;
  }
  return sizes;
}

absl::Status ResolveTwin(const std::string& path,
                         const CompressOptions& options, bool* kept_zst,
                         std::string* set_aside) {
  const std::string zst = path + kCompressedSuffix;
  const absl::Status same = VerifyCompressed(zst, path, options);
  if (!same.ok() && !absl::IsDataLoss(same)) return same;  // unsure: both stay
  *kept_zst = same.ok();
  if (same.ok()) {
    if (absl::Status s = options.fs->Remove(path); !s.ok()) return s;
  } else {
    const std::string aside = ConflictName(zst, options.fs);
    if (absl::Status s = options.fs->Rename(zst, aside); !s.ok()) return s;
    if (set_aside != nullptr) *set_aside = aside;
  }
  return options.fs->SyncDirectory(DirOf(path));
}

absl::Status RestoreCompressedTwin(const std::string& path,
                                   const CompressOptions& options,
                                   uint64_t* restored_bytes) {
  if (restored_bytes != nullptr) *restored_bytes = 0;
  const std::string zst = path + kCompressedSuffix;
  if (!options.fs->Stat(zst).ok()) return absl::OkStatus();
  if (options.fs->Stat(path).ok()) {
    bool kept_zst = false;
    if (absl::Status s = ResolveTwin(path, options, &kept_zst); !s.ok()) {
      return s;
    }
    if (!kept_zst) return absl::OkStatus();  // the original goes on
  }
  const std::string tmp = path + kCompressingSuffix;
  const std::string dir = DirOf(path);
  uint64_t bytes = 0;
  if (absl::Status s = WriteRestoredTmp(zst, tmp, options, &bytes); !s.ok()) {
    if (!absl::IsDataLoss(s)) return s;
    // Damaged: set aside as ResolveTwin() sets a differing one, never lost
    // and never in the way of new events.
    if (absl::Status r = options.fs->Rename(zst, ConflictName(zst, options.fs));
        !r.ok()) {
      return r;
    }
    return options.fs->SyncDirectory(dir);
  }
  // Both exact copies until the .zst goes: a crash keeps the .zst.
  if (absl::Status s = RenameThenRemove(tmp, path, zst, options.fs); !s.ok()) {
    return s;
  }
  if (restored_bytes != nullptr) *restored_bytes = bytes;
  return absl::OkStatus();
}

}  // namespace ziggy
