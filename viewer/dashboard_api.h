// The dashboard's HTTP routes: the page (its HTML, JavaScript and CSS,
// embedded in the binary: no internet needed) and a small JSON API over a
// DashboardModel (dashboard_model.h). GET only; every answer is
// application/json except the page's files; bounded outputs.
//
//   GET /                     the page (index.html; app.js, chart.js and
//                             style.css beside it)
//   GET /api/types            {"resolution", "types": [{"name", "count",
//                             "fields": ["body.request_time", ...]}],
//                             "default_where"}
//   GET /api/rates            {"resolution", "time": [...], "series":
//                             {"request": [events/s per bucket], ...}},
//                             the 10 busiest types
//   GET /api/series?type=T[&field=F][&where=W]
//                             {"resolution", "time", "count", "p50", "p90",
//                             "p99", "error_share"} (arrays per bucket,
//                             null where nothing was seen)
//   GET /api/events?type=T[&limit=N]
//                             {"events": [event, ...]}, newest first;
//                             N in 1..200 (default 50)
//   GET /api/event?id=I       {"id", "parent": event | null, "children":
//                             [sub-event, ...]}; 404 when not kept
//   GET /api/top?type=T&by=P[&limit=N]
//                             {"by", "rows": [{"value", "count"}]}, N in
//                             1..50 (default 10)
//   GET /api/status           {"ok", "error", "time", "status": STATUS
//                             reply | null} (live; null from files)
//
// Validation, each a 400 with {"error": "..."}: a missing or empty `type`,
// `id` or `by`; a type, field, id or by longer than 256 bytes; a `field`
// not under "body."; a `limit` that is not an integer in range; a `where`
// that does not parse (the message is Where::Parse's, with the column:
// "where: at 22: expected a value after '>='").
//
// Thread-safety: the handlers may run on several threads at once.

#ifndef ZIGGY_VIEWER_DASHBOARD_API_H_
#define ZIGGY_VIEWER_DASHBOARD_API_H_

#include <map>
#include <string>

#include "common/http_server.h"
#include "viewer/dashboard_model.h"

namespace ziggy {

// The routes, for HttpServer::StartWithQueries.
// REQUIRES: `model` outlives the server.
std::map<std::string, HttpServer::RequestHandler> DashboardRoutes(
    const DashboardModel* model);

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_DASHBOARD_API_H_
