// The job manager's side of the front door (daemon/door.h; docs/proxy.md, "Routes that are
// jobs"): a request a service's proxy holds is submitted as a job of origin "door", admitted by
// the same planner, and instead of being POSTed by the daemon it is forwarded by the proxy when
// dispatched; the proxied request's end is the job's end, and its VRAM samples teach the
// estimator as a submitted job's do.
#include "daemon/job_manager_impl.h"

namespace vg {

using nlohmann::json;

void JobManager::SubmitDoor(const std::string& service, json params,
                            std::shared_ptr<DoorTicket> ticket,
                            std::function<void(HttpResponse)> done) {
  Impl& m = *impl_;
  HttpRequest request;
  request.method = "POST";
  request.target = request.path = "/v1/jobs";
  request.headers["content-type"] = "application/json";
  request.body = json{{"service", service}, {"params", std::move(params)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  request.trusted_transport = true;
  // The one submission path, told that this one is the door's (origin, ticket, never the fleet).
  m.door_submit = std::move(ticket);
  HandlerResult r = Submit(request);
  m.door_submit.reset();
  if (auto* answer = std::get_if<HttpResponse>(&r)) {
    done(std::move(*answer));
  } else if (auto* later = std::get_if<DeferredResponse>(&r)) {
    later->start(std::move(done));
  } else {
    done(HttpResponse::Error(500, "internal error: a submission answered with a stream"));
  }
}

void JobManager::DoorJobEnded(std::int64_t id, int status, const std::string& error) {
  Impl& m = *impl_;
  auto it = m.active.find(id);
  if (it == m.active.end() || !it->second->door || it->second->door_result) return;
  DispatchResult r;
  r.status = status;
  r.error = status == 0 ? (error.empty() ? "no answer reached the client" : error) : "";
  it->second->door_result = std::move(r);
  if (it->second->door_wait) it->second->door_wait->cancel();
}

void JobManager::DoorJobGone(std::int64_t id) {
  Impl& m = *impl_;
  if (m.door_waiting.erase(id) == 0) return;  // forwarded, or ended already
  (void)Cancel(std::to_string(id));           // queued or admitted: it leaves the queue
}

void JobManager::Impl::EndDoorTicket(JobId id, int status, const std::string& why) {
  auto it = door_waiting.find(id);
  if (it == door_waiting.end()) return;
  std::shared_ptr<DoorTicket> ticket = std::move(it->second);
  door_waiting.erase(it);
  ticket->fail(status, why);
}

asio::awaitable<DispatchResult> JobManager::Impl::RunDoorJob(std::shared_ptr<ActiveJob> job,
                                                             Millis timeout) {
  job->door_wait = std::make_unique<asio::steady_timer>(io);
  job->door_wait->expires_after(timeout);
  job->door->forward(job->id);
  while (!job->door_result && !shutting_down) {
    boost::system::error_code ec;
    co_await job->door_wait->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) break;  // the timeout: the request is still under way
  }
  if (job->door_result) co_return *job->door_result;
  DispatchResult r;
  r.error = shutting_down ? "the daemon stopped while the request ran"
                          : "the request through the proxy did not end within the job timeout (" +
                                FormatSeconds(timeout) + ")";
  co_return r;
}

}  // namespace vg
