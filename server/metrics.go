package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (so several servers in one process, as in tests, do not collide),
// served at GET /metrics.
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec   // route, code
	latency       *prometheus.HistogramVec // route
	sseOpen       prometheus.Gauge
	eventsAppend  prometheus.Counter
	fanoutDrops   prometheus.Counter
	cutoffs       *prometheus.CounterVec // transport
	streamEvents  *prometheus.CounterVec // how: replay, live
	streamResets  prometheus.Counter
	syncPages     prometheus.Counter
	syncEvents    prometheus.Counter
	storeDuration *prometheus.HistogramVec // op
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outpost_http_requests_total",
		Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "outpost_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern (streams and WebSockets: how long they stayed open).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60, 600}}, []string{"route"})
	f(m.requests)
	f(m.latency)
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "outpost_websocket_connections",
		Help: "Open WebSocket connections."}, func() float64 { return float64(s.hub.connections() - int(s.streams.Load())) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "outpost_sse_connections",
		Help: "Open Server-Sent Events streams."}, func() float64 { return float64(s.streams.Load()) }))
	m.eventsAppend = prometheus.NewCounter(prometheus.CounterOpts{Name: "outpost_events_appended_total",
		Help: "Events appended to channel logs."})
	m.fanoutDrops = prometheus.NewCounter(prometheus.CounterOpts{Name: "outpost_fanout_drops_total",
		Help: "Live events not queued because a connection's buffer was full."})
	m.cutoffs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outpost_fanout_cutoffs_total",
		Help: "Connections cut off for reading too slowly, by transport."}, []string{"transport"})
	m.streamEvents = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "outpost_sse_events_total",
		Help: "Events sent on Server-Sent Events streams: replayed from the log, or live."}, []string{"how"})
	m.streamResets = prometheus.NewCounter(prometheus.CounterOpts{Name: "outpost_sse_resets_total",
		Help: "Reset events sent on streams: a channel position that could not be continued."})
	m.syncPages = prometheus.NewCounter(prometheus.CounterOpts{Name: "outpost_sync_pages_total",
		Help: "Sync pages served."})
	m.syncEvents = prometheus.NewCounter(prometheus.CounterOpts{Name: "outpost_sync_events_total",
		Help: "Events served in sync pages."})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "outpost_store_duration_seconds",
		Help:    "Store transaction latency: update (write) or view (read).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"op"})
	for _, c := range []prometheus.Collector{m.eventsAppend, m.fanoutDrops, m.cutoffs, m.streamEvents,
		m.streamResets, m.syncPages, m.syncEvents, m.storeDuration} {
		f(c)
	}
	// Zero series exist from the start, so a dashboard sees 0, not "no data".
	m.cutoffs.WithLabelValues("websocket")
	m.cutoffs.WithLabelValues("sse")
	m.streamEvents.WithLabelValues("replay")
	m.streamEvents.WithLabelValues("live")
	return m
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observeRequest records one finished request.
func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// observeStore records one store transaction.
func (m *metrics) observeStore(op string, start time.Time) {
	m.storeDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
