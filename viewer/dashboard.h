// RunDashboard: `ziggyview --serve=host:port`, a web page of a daemon's live
// events (-H host:port, one or several) or of a range of event files
// (--log-path with the dates, one or several), served with its JSON API
// (dashboard_api.h) from a bounded HTTP server (common/http_server.h) over a
// DashboardModel (dashboard_model.h).
//
// Live: the stream is followed as `ziggyview -H` does (StreamSubscriber
// rediscovers a restarted daemon's stream), and STATUS is asked every 2 s
// on a thread of its own (each call a new socket, so a restarted daemon
// answers again); the page shows the last answer and the error meanwhile.
// Several -H (a pool): every daemon's events are counted together, and
// the status shown is their sum (client/reader/pool_status.h SumStatus),
// the error naming those that did not answer.
// Buckets of 5 s over the last 15 min. Files: read once at start, before
// serving, in buckets that put the whole range in at most 1000 points
// (whole seconds, at least 1).
//
// --type-name, --where and (files) --start-date/--end-date select the
// events counted, as they select what ziggyview prints (the page's own
// where box only computes the error share). Prints "dashboard: <url>/" on `out`
// once serving; runs until *options.stop.
//
// Exposure: the page is plain, unauthenticated HTTP that shows every
// event. Off loopback (common/exposure.h's IsLoopbackHost) --serve is
// refused unless options.insecure, which then warns on `err`.
//
// Thread-safety: call from one thread.

#ifndef ZIGGY_VIEWER_DASHBOARD_H_
#define ZIGGY_VIEWER_DASHBOARD_H_

#include <ostream>

#include "viewer/viewer.h"

namespace ziggy {

// REQUIRES: !options.serve.empty().
int RunDashboard(const ViewerOptions& options, std::ostream& out,
                 std::ostream& err);

}  // namespace ziggy

#endif  // ZIGGY_VIEWER_DASHBOARD_H_
