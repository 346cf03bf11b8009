// vg_store_bench: durable job submits per second — SqliteJobStore::Submit against SQLite's own
// durable insert rate on the same disk (a plain INSERT, one transaction each, same WAL and
// synchronous settings), measured side by side in one run, in alternating rounds so load from
// anything else on the machine falls on both alike. Issue 5 point 7: the HTTP side (the daemon's
// POST /v1/jobs) is measured by a script, which calls `--raw-sqlite-rate` for its denominator.
//
//   vg_store_bench [--dir DIR] [--count N] [--rounds R] [--payload-bytes B] [--sync normal|full]
//                  [--no-keys] [--raw-sqlite-rate] [--json]
//
// --dir: where the temporary databases go (default /var/tmp; use the state directory's disk).
// --raw-sqlite-rate: measure only raw SQLite; print one JSON document.
// Output: a table, or with --json one document: {"raw_sqlite": {...}, "job_store": {...},
// "ratio"}; each side has inserts_per_s, p50_ms, p99_ms, count.
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "store/sqlite_job_store.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Side {
  std::vector<double> latencies_ms;
  double seconds = 0;

  nlohmann::json Json() const {
    std::vector<double> sorted = latencies_ms;
    std::sort(sorted.begin(), sorted.end());
    auto pct = [&](double p) {
      if (sorted.empty()) return 0.0;
      return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * sorted.size()))];
    };
    return {{"count", sorted.size()},
            {"inserts_per_s", seconds > 0 ? static_cast<double>(sorted.size()) / seconds : 0.0},
            {"p50_ms", pct(0.50)},
            {"p90_ms", pct(0.90)},
            {"p99_ms", pct(0.99)},
            {"max_ms", sorted.empty() ? 0.0 : sorted.back()}};
  }
};

vg::JobRecord MakeJob(std::int64_t i, std::size_t payload_bytes, bool keys) {
  vg::JobRecord job{.service = "i2v",
                    .params = {{"width", 768}, {"height", 768}, {"frames", 24}, {"steps", 80}},
                    .payload = std::string(payload_bytes, 'p'),
                    .priority = static_cast<int>(i % 3),
                    .idempotency_key = "bench-" + std::to_string(i),
                    .submitted_unix_ms = 1700000000000 + i,
                    .estimate_bytes = vg::Bytes::GiB(12),
                    .idempotent = true};
  if (!keys) job.idempotency_key.reset();
  return job;
}

// The baseline: one plain table, one INSERT per transaction (autocommit), same settings.
class RawSqlite {
 public:
  static RawSqlite* Open(const std::string& path, bool full) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return nullptr;
    auto* raw = new RawSqlite(db);
    const std::string setup = fmt::format(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={}; CREATE TABLE IF NOT EXISTS t ("
        "id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL, params TEXT NOT NULL, "
        "payload BLOB NOT NULL) STRICT;",
        full ? "FULL" : "NORMAL");
    if (sqlite3_exec(db, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t (service, params, payload) VALUES (?1, ?2, ?3)", -1,
                           &raw->insert_, nullptr) != SQLITE_OK) {
      delete raw;
      return nullptr;
    }
    return raw;
  }
  ~RawSqlite() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  bool Insert(const vg::JobRecord& job) {
    const std::string params = job.params.dump();
    sqlite3_bind_text(insert_, 1, job.service.data(), static_cast<int>(job.service.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(insert_, 2, params.data(), static_cast<int>(params.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert_, 3, job.payload.data(), static_cast<int>(job.payload.size()),
                      SQLITE_STATIC);
    const int rc = sqlite3_step(insert_);
    sqlite3_reset(insert_);
    return rc == SQLITE_DONE;
  }

 private:
  explicit RawSqlite(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  sqlite3_stmt* insert_ = nullptr;
};

template <class F>
bool Measure(Side& side, std::int64_t first, int count, std::size_t payload, bool keys,
             F&& insert) {
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    const vg::JobRecord job = MakeJob(first + i, payload, keys);
    const auto t0 = Clock::now();
    if (!insert(job)) return false;
    side.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  side.seconds += std::chrono::duration<double>(Clock::now() - start).count();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"durable job submits per second: SqliteJobStore vs raw SQLite, side by side"};
  std::string base = "/var/tmp";
  int count = 2000;
  int rounds = 5;
  std::size_t payload = 256;
  std::string sync = "normal";
  bool raw_only = false;
  bool json = false;
  bool no_keys = false;
  app.add_option("--dir", base, "directory for the temporary databases (same disk as the state)");
  app.add_option("--count", count, "inserts per side per round")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "alternating rounds")->check(CLI::PositiveNumber);
  app.add_option("--payload-bytes", payload, "payload bytes per job");
  app.add_option("--sync", sync, "synchronous level")->check(CLI::IsMember({"normal", "full"}));
  app.add_flag("--raw-sqlite-rate", raw_only, "measure raw SQLite only, print JSON");
  app.add_flag("--json", json, "one JSON document on stdout");
  app.add_flag("--no-keys", no_keys, "submit without idempotency keys");
  CLI11_PARSE(app, argc, argv);
  const bool full = sync == "full";
  const bool keys = !no_keys;

  std::string dir = base + "/vg_store_bench_XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    fmt::print(stderr, "cannot create a directory under {}: check it exists and is writable\n",
               base);
    return 1;
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};

  std::unique_ptr<RawSqlite> raw(RawSqlite::Open(dir + "/raw.db", full));
  if (!raw) {
    fmt::print(stderr, "cannot open a raw SQLite database in {}\n", dir);
    return 1;
  }
  std::unique_ptr<vg::SqliteJobStore> store;
  if (!raw_only) {
    auto opened = vg::SqliteJobStore::Open(
        dir + "/state.db", {.synchronous = full ? vg::SqliteJobStore::Synchronous::kFull
                                                : vg::SqliteJobStore::Synchronous::kNormal});
    if (!opened) {
      fmt::print(stderr, "{}\n", opened.error().message);
      return 1;
    }
    store = std::move(*opened);
  }

  Side raw_side;
  Side store_side;
  for (int r = 0; r < rounds; ++r) {
    const std::int64_t first = static_cast<std::int64_t>(r) * count;
    if (!Measure(raw_side, first, count, payload, keys,
                 [&](const vg::JobRecord& job) { return raw->Insert(job); })) {
      fmt::print(stderr, "raw SQLite insert failed\n");
      return 1;
    }
    if (raw_only) continue;
    bool ok = Measure(store_side, first, count, payload, keys, [&](const vg::JobRecord& job) {
      auto out = store->Submit(job);
      return out.has_value() && !out->duplicate;
    });
    if (!ok) {
      fmt::print(stderr, "SqliteJobStore::Submit failed\n");
      return 1;
    }
  }

  nlohmann::json raw_json = raw_side.Json();
  raw_json["synchronous"] = sync;
  raw_json["payload_bytes"] = payload;
  raw_json["idempotency_keys"] = keys;
  if (raw_only) {
    fmt::print("{}\n", raw_json.dump(2));
    return 0;
  }
  nlohmann::json store_json = store_side.Json();
  const double ratio =
      store_json["inserts_per_s"].get<double>() / raw_json["inserts_per_s"].get<double>();
  if (json) {
    fmt::print(
        "{}\n",
        nlohmann::json{{"raw_sqlite", raw_json}, {"job_store", store_json}, {"ratio", ratio}}.dump(
            2));
    return 0;
  }
  fmt::print("durable inserts, {} rounds x {} per side, payload {} B, WAL synchronous={}, in {}\n",
             rounds, count, payload, sync, base);
  fmt::print("{:<28} {:>12} {:>9} {:>9}\n", "", "inserts/s", "p50 ms", "p99 ms");
  for (const auto& [name, side] : {std::pair{"raw SQLite INSERT", raw_json},
                                   std::pair{"SqliteJobStore::Submit", store_json}}) {
    fmt::print("{:<28} {:>12.0f} {:>9.3f} {:>9.3f}\n", name, side["inserts_per_s"].get<double>(),
               side["p50_ms"].get<double>(), side["p99_ms"].get<double>());
  }
  fmt::print("ratio job store / raw: {:.2f}\n", ratio);
  return 0;
}
