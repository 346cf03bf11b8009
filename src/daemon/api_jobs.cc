// The job endpoints of the control API (docs/api.md, "Jobs"); the work is JobManager's.
#include "daemon/job_manager.h"

namespace vg {

void AddJobRoutes(Router& router, JobManager& jobs) {
  router.Add("POST", "/v1/jobs", [&jobs](const HttpRequest& r, const PathParams&) -> HandlerResult {
    return jobs.Submit(r);
  });
  router.Add("GET", "/v1/jobs", [&jobs](const HttpRequest& r, const PathParams&) -> HandlerResult {
    return jobs.List(r);
  });
  router.Add("GET", "/v1/jobs/{id}",
             [&jobs](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return jobs.Get(p.at("id"));
             });
  router.Add("DELETE", "/v1/jobs/{id}",
             [&jobs](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return jobs.Cancel(p.at("id"));
             });
  router.Add("GET", "/v1/jobs/{id}/result",
             [&jobs](const HttpRequest&, const PathParams& p) -> HandlerResult {
               return jobs.ResultOf(p.at("id"));
             });
}

}  // namespace vg
