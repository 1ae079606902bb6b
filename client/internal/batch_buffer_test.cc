// BatchBuffer and its pool: the bytes reach a real ZeroMQ peer without a
// copy, a refused message leaves the batch intact, and buffers come back
// for reuse only once ZeroMQ is done with them.

#include "client/internal/batch_buffer.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "zmq.hpp"

namespace ziggy::internal {
namespace {

TEST(BatchBufferTest, AppendsBackToBack) {
  BatchBufferPool pool(16, 1);
  BatchBuffer* buffer = pool.Take();
  EXPECT_EQ(buffer->room(), 16u);
  buffer->Append("abc");
  buffer->Append("defg");
  EXPECT_EQ(buffer->view(), "abcdefg");
  EXPECT_EQ(buffer->room(), 9u);
  buffer->Release();
}

// A message the socket refuses is destroyed; the batch keeps its buffer,
// bytes and all, and may go on filling it.
TEST(BatchBufferTest, RefusedMessageLeavesTheBatchIntact) {
  BatchBufferPool pool(16, 4);
  BatchBuffer* buffer = pool.Take();
  buffer->Append("abc");
  {
    zmq::message_t refused = buffer->ToMessage();
    EXPECT_EQ(refused.to_string_view(), "abc");
  }
  EXPECT_EQ(pool.live(), 1u);
  BatchBuffer* other = pool.Take();
  EXPECT_NE(other, buffer);  // not handed out again while the batch has it
  buffer->Append("de");
  EXPECT_EQ(buffer->view(), "abcde");
  other->Release();
  buffer->Release();
}

// Released by its filler, a buffer waits for its message; then it is
// reused, empty.
TEST(BatchBufferTest, ReusedOnlyAfterTheMessageIsDone) {
  BatchBufferPool pool(16, 4);
  BatchBuffer* buffer = pool.Take();
  buffer->Append("abc");
  auto message = std::make_unique<zmq::message_t>(buffer->ToMessage());
  buffer->Release();
  BatchBuffer* second = pool.Take();
  EXPECT_NE(second, buffer);
  EXPECT_EQ(message->to_string_view(), "abc");  // untouched
  message.reset();
  BatchBuffer* third = pool.Take();
  EXPECT_EQ(third, buffer);
  EXPECT_EQ(third->size(), 0u);
  second->Release();
  third->Release();
  EXPECT_EQ(pool.live(), 2u);
}

TEST(BatchBufferTest, KeepsAtMostMaxIdle) {
  BatchBufferPool pool(16, 2);
  std::vector<BatchBuffer*> taken;
  for (int i = 0; i < 10; ++i) taken.push_back(pool.Take());
  EXPECT_EQ(pool.live(), 10u);
  for (BatchBuffer* buffer : taken) buffer->Release();
  EXPECT_EQ(pool.live(), 2u);
}

// Through a real PUSH/PULL pair: every message arrives byte for byte, and
// ZeroMQ's I/O thread gives every buffer back.
TEST(BatchBufferTest, ZeroMqSendsTheBufferAndGivesItBack) {
  BatchBufferPool pool(1024, 2);
  zmq::context_t context(1);
  zmq::socket_t pull(context, zmq::socket_type::pull);
  pull.bind("tcp://127.0.0.1:*");
  zmq::socket_t push(context, zmq::socket_type::push);
  push.connect(pull.get(zmq::sockopt::last_endpoint));
  for (int i = 0; i < 100; ++i) {
    BatchBuffer* buffer = pool.Take();
    buffer->Append(std::string(1000, static_cast<char>('a' + i % 26)));
    zmq::message_t message = buffer->ToMessage();
    ASSERT_TRUE(push.send(message, zmq::send_flags::none));
    buffer->Release();
  }
  for (int i = 0; i < 100; ++i) {
    zmq::message_t received;
    ASSERT_TRUE(pull.recv(received));
    EXPECT_EQ(received.to_string(),
              std::string(1000, static_cast<char>('a' + i % 26)));
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (pool.live() > 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(pool.live(), 2u);  // the rest freed, two kept idle
}

}  // namespace
}  // namespace ziggy::internal
