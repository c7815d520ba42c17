package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Prometheus series served at /metrics. Each Server has its
// own registry so several servers can live in one process (tests, two instances).
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	mutations   *prometheus.CounterVec
	unavailable *prometheus.CounterVec
	dependency  *prometheus.GaugeVec
	pullLag     prometheus.Histogram
}

func newMetrics(pendingMedia func(context.Context) (int64, error)) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fieldsync_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_push_mutations_total", Help: "Pushed mutations by outcome (applied, duplicate, conflict, rejected).",
		}, []string{"status"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_unavailable_total", Help: "Requests answered 503 because a dependency (database, object store) failed, by route.",
		}, []string{"route"}),
		dependency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fieldsync_dependency_up", Help: "1 when the dependency answered the last readiness check, else 0.",
		}, []string{"dependency"}),
		pullLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fieldsync_pull_lag_seconds", Help: "Age of the oldest change handed out by a pull page (how far behind clients are).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
	}
	if pendingMedia != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "fieldsync_media_pending", Help: "Photos announced but not yet stored (all tenants); -1 when the count failed.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := pendingMedia(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	m.reg.MustRegister(m.requests, m.latency, m.mutations, m.unavailable, m.dependency, m.pullLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(c *fiber.Ctx, took time.Duration) {
	route := "unmatched"
	if r := c.Route(); r != nil && r.Path != "/" && r.Path != "" {
		route = r.Path
	}
	status := c.Response().StatusCode()
	m.requests.WithLabelValues(route, c.Method(), strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, c.Method()).Observe(took.Seconds())
	if status == fiber.StatusServiceUnavailable {
		m.unavailable.WithLabelValues(route).Inc()
	}
}

// countMutations records the outcome of each pushed mutation.
func (m *metrics) countMutations(statuses []string) {
	for _, s := range statuses {
		m.mutations.WithLabelValues(s).Inc()
	}
}

// observePullLag records how old the oldest change of a pull page was.
func (m *metrics) observePullLag(d time.Duration) {
	if d >= 0 {
		m.pullLag.Observe(d.Seconds())
	}
}

func (m *metrics) setDependency(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.dependency.WithLabelValues(name).Set(v)
}

func (s *Server) registerMetricsRoutes(r fiber.Router) {
	r.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
}
