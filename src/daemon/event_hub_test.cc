#include "daemon/event_hub.h"

#include <gtest/gtest.h>

#include "store/memory_store.h"

namespace vg {
namespace {

std::vector<std::string> StoredKinds(MemoryStore& store) {
  std::vector<std::string> out;
  EventFilter f;
  auto got = store.ListEvents(f);
  if (got) {
    for (const EventRecord& e : *got) out.push_back(e.kind);
  }
  return out;
}

// The chaos soak's finding 9: an event the store refused while the state directory was full was
// lost for good (a job recorded `done` never got its `job-done` event).
TEST(EventHub, AnEventTheStoreRefusedIsWrittenBeforeTheNextOne) {
  MemoryStore store;
  EventHub hub(store, false);
  hub.Emit("svc", "", "first", "first");
  store.fail_next_write = Error{ErrorCode::kIo, "database or disk is full", ""};
  hub.Emit("svc", "", "job-done", "job 1 done");
  EXPECT_EQ(StoredKinds(store), std::vector<std::string>{"first"});
  hub.Emit("svc", "", "third", "third");
  EXPECT_EQ(StoredKinds(store), (std::vector<std::string>{"first", "job-done", "third"}));
}

TEST(EventHub, SubscribersSeeEveryEventEvenWhenTheStoreFails) {
  MemoryStore store;
  EventHub hub(store, false);
  std::vector<std::string> seen;
  hub.Subscribe([&](const EventRecord& e) { seen.push_back(e.kind); });
  store.fail_next_write = Error{ErrorCode::kIo, "disk full", ""};
  hub.Emit("svc", "", "a", "a");
  hub.Emit("svc", "", "b", "b");
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace vg
