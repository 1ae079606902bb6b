// WriteShortestDouble: a double as the shortest text that reads back as the
// same double, exactly as std::to_chars(first, last, double) writes it, with
// a fast path for the values events hold.
//
// std::to_chars finds the shortest digits for any double; for the JSON
// printer that was a sixth of its instructions. Event doubles are mostly
// timestamps and durations with at most six decimals below 2^32; for those
// the six-decimal rendering is the shortest, and a division checks that it
// reads back. Every other value goes to std::to_chars.

#ifndef ZIGGY_CLIENT_READER_DOUBLE_TEXT_H_
#define ZIGGY_CLIENT_READER_DOUBLE_TEXT_H_

namespace ziggy {

// Room WriteShortestDouble may use.
inline constexpr int kDoubleTextMax = 32;

// Writes `d` (finite) at `out`, which has kDoubleTextMax bytes of room;
// returns the end of the text.
char* WriteShortestDouble(double d, char* out);

}  // namespace ziggy

#endif  // ZIGGY_CLIENT_READER_DOUBLE_TEXT_H_
