#include "client/reader/double_text.h"

#include <charconv>
#include <cstdint>

#include "absl/strings/numbers.h"

namespace ziggy {
namespace {

// The fast path: |d| in [0.001, 2^32) with at most six decimals, not an
// integer. Returns nullptr for any other value.
//
// Why its text is to_chars': let D be d rounded to six decimals, trailing
// zeros dropped, p decimals left (1 <= p <= 6). D reads back as d when the
// division m / 1e6 (correctly rounded, as strtod is) gives d. Below 2^32 a
// double's ulp is under 1e-6 <= 10^-p, so no text with fewer decimals
// (at least 10^-p from D) and no other text with p decimals lies within
// half an ulp of d: D's digits are the shortest and the only ones. Fixed
// notation is never longer than scientific here: at or above 1 every digit
// is significant and the exponent costs four characters, and from 0.001 on
// at most two zeros lead (a tie goes to fixed, as in to_chars). Integers
// are left to to_chars, which writes 100000 as 1e+05.
char* WriteSixDecimals(double d, char* out) {
  const double magnitude = d < 0 ? -d : d;
  if (!(magnitude >= 1e-3 && magnitude < 4294967296.0)) return nullptr;
  const auto micros = static_cast<uint64_t>(magnitude * 1e6 + 0.5);
  if (static_cast<double>(micros) / 1e6 != magnitude) return nullptr;
  auto fraction = static_cast<uint32_t>(micros % 1000000);
  if (fraction == 0) return nullptr;
  if (d < 0) *out++ = '-';
  out = absl::numbers_internal::FastIntToBuffer(
      static_cast<uint32_t>(micros / 1000000), out);
  *out++ = '.';
  for (int i = 5; i >= 0; --i, fraction /= 10) {
    out[i] = static_cast<char>('0' + fraction % 10);
  }
  char* end = out + 6;
  while (end[-1] == '0') --end;  // a digit is not zero: fraction was not
  return end;
}

}  // namespace

char* WriteShortestDouble(double d, char* out) {
  if (char* end = WriteSixDecimals(d, out)) return end;
  return std::to_chars(out, out + kDoubleTextMax, d).ptr;
}

}  // namespace ziggy
