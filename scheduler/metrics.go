package scheduler

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the engine's Prometheus series.
type metrics struct {
	sends          *prometheus.CounterVec   // by app, template, result, errcode
	latency        *prometheus.HistogramVec // WeChat send call duration, by app
	queueDepth     *prometheus.GaugeVec     // queued deliveries, by app
	retries        *prometheus.CounterVec   // by app, reason
	tokenRefreshes *prometheus.CounterVec   // new access tokens stored, by app
	rateWaits      *prometheus.CounterVec   // claims held back by the rate limit, by app
	settled        *prometheus.CounterVec   // sent events, by result
	recovered      prometheus.Counter       // leases expired → unknown
	claimed        prometheus.Histogram     // deliveries sent per claim
	settleLocks    prometheus.Histogram     // rows one settle transaction held locked (MySQL)
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minipush_sends_total",
			Help: "Deliveries handled by the engine, by app, template, result (sent, failed, unknown, retry_<reason>, skipped_<reason>) and WeChat errcode."},
			[]string{"app", "template", "result", "errcode"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "minipush_send_duration_seconds",
			Help:    "Duration of WeChat send calls, token refresh included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"app"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "minipush_queue_depth",
			Help: "Deliveries queued (due or not), by app, measured every maintenance pass."}, []string{"app"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minipush_send_retries_total",
			Help: "Deliveries put back in the queue, by app and reason (retry, user_busy, quota, no_token)."}, []string{"app", "reason"}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minipush_token_refreshes_total",
			Help: "Access tokens fetched from WeChat and stored in the shared cache, by app."}, []string{"app"}),
		rateWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minipush_rate_limit_waits_total",
			Help: "Times a worker found the app's per-second capacity used up and waited for the next second, by app."}, []string{"app"}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minipush_sent_events_total",
			Help: "subscribe_msg_sent_event items, by result: stored (taken in by the push endpoint), settled (matched to their delivery, on arrival or by the settle pass), duplicate (WeChat's retries)."}, []string{"result"}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "minipush_leases_expired_total",
			Help: "Deliveries found sending past their lease and declared unknown (never resent)."}),
		claimed: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "minipush_claim_batch_size",
			Help: "Deliveries sent per claim.", Buckets: []float64{1, 5, 10, 25, 50, 100, 200, 500, 1000}}),
		settleLocks: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "minipush_settle_rows_locked",
			Help:    "Rows one settle pass's transaction held locked before it committed (MySQL; about three per event settled).",
			Buckets: []float64{0, 10, 100, 500, 1000, 2000, 5000, 10000, 50000}}),
	}
	for _, c := range []prometheus.Collector{m.sends, m.latency, m.queueDepth, m.retries, m.tokenRefreshes, m.rateWaits, m.settled, m.recovered, m.claimed, m.settleLocks} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Registry returns the engine's own registry (nil when Config.Registerer
// was given: then the caller's registry holds the metrics).
func (e *Engine) Registry() *prometheus.Registry { return e.reg }

// MetricsHandler serves the engine's registry in the Prometheus text
// format, for the web layer to mount at GET /metrics. With Config.Registerer
// set it serves prometheus.DefaultGatherer's view only if that is what was
// passed; mount your own registry's handler instead.
func (e *Engine) MetricsHandler() http.Handler {
	if e.reg == nil {
		return promhttp.Handler()
	}
	// The web server compresses responses itself: promhttp compressing too
	// sent Prometheus a body gzipped twice, which it cannot read.
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{Registry: e.reg, DisableCompression: true})
}
