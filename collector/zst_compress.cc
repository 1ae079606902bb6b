#include "collector/zst_compress.h"

#include <zstd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

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

absl::Status WriteTmp(const std::string& path, const std::string& tmp,
                      const CompressOptions& options, CompressedFile* sizes) {
  OpenOptions create = OpenOptions::Append(/*create=*/true);
  create.truncate = true;
  absl::StatusOr<std::unique_ptr<File>> out = options.fs->Open(tmp, create);
  if (!out.ok()) return out.status();
  if (absl::Status s = CompressInto(path, **out, options, sizes); !s.ok()) {
    return s;
  }
  return (*out)->Sync();
}

// Steps 1 and 2; the .tmp is removed when they fail.
absl::Status WriteAndVerifyTmp(const std::string& path, const std::string& tmp,
                               const CompressOptions& options,
                               CompressedFile* sizes) {
  absl::Status s = WriteTmp(path, tmp, options, sizes);
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

}  // namespace

absl::Status VerifyCompressed(const std::string& zst,
                              const std::string& original,
                              const CompressOptions& options) {
  absl::StatusOr<std::unique_ptr<File>> in =
      options.fs->Open(zst, OpenOptions::ReadOnly());
  if (!in.ok()) return in.status();
  absl::StatusOr<std::unique_ptr<File>> orig =
      options.fs->Open(original, OpenOptions::ReadOnly());
  if (!orig.ok()) return orig.status();
  std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  std::string chunk;
  std::string buffer(ZSTD_DStreamOutSize(), '\0');
  uint64_t zst_offset = 0, original_offset = 0;
  size_t frame_left = 1;  // ZSTD_decompressStream's hint; 0 at a frame's end
  while (true) {
    if (Stopped(options)) return absl::CancelledError("stopping");
    chunk.clear();
    if (absl::Status s = (*in)->Read(zst_offset, options.chunk_bytes, &chunk);
        !s.ok()) {
      return s;
    }
    if (chunk.empty()) break;
    zst_offset += chunk.size();
    ZSTD_inBuffer input{chunk.data(), chunk.size(), 0};
    ZSTD_outBuffer output;
    do {  // a full output buffer may leave more to flush
      output = {buffer.data(), buffer.size(), 0};
      frame_left = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(frame_left)) {
        return ZstdError("cannot decompress", frame_left, zst);
      }
      if (absl::Status s = CompareNext(**orig, {buffer.data(), output.pos},
                                       &original_offset, original);
          !s.ok()) {
        return s;
      }
    } while (input.pos < input.size || output.pos == output.size);
  }
  std::string rest;
  if (absl::Status s = (*orig)->Read(original_offset, 1, &rest); !s.ok()) {
    return s;
  }
  if (frame_left != 0 || zst_offset == 0 || !rest.empty()) {
    return absl::DataLossError(
        absl::StrCat(zst, " is not a whole compressed copy of ", original));
  }
  return absl::OkStatus();
}

absl::StatusOr<CompressedFile> CompressFileDurably(
    const std::string& path, const CompressOptions& options) {
  const std::string zst = path + kZstSuffix;
  const std::string tmp = path + kZstTmpSuffix;
  const std::string dir = DirOf(path);
  CompressedFile sizes;
  if (absl::Status s = WriteAndVerifyTmp(path, tmp, options, &sizes); !s.ok()) {
    return s;
  }
  if (absl::Status s = options.fs->Rename(tmp, zst); !s.ok()) {
    options.fs->Remove(tmp).IgnoreError();
    return s;
  }
  // From here on both exist until the original goes: a failure leaves
  // them for ResolveTwin().
  if (absl::Status s = options.fs->SyncDirectory(dir); !s.ok()) return s;
  if (absl::Status s = options.fs->Remove(path); !s.ok()) return s;
  if (absl::Status s = options.fs->SyncDirectory(dir); !s.ok()) return s;
  return sizes;
}

absl::Status ResolveTwin(const std::string& path,
                         const CompressOptions& options, bool* kept_zst,
                         std::string* set_aside) {
  const std::string zst = path + kZstSuffix;
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

}  // namespace ziggy
