package api

import (
	"context"
	"strconv"
	"sync"
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

	routesOnce sync.Once
	routes     map[string]string // "METHOD path" of every endpoint → its path
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

// observe counts a finished request. Its labels are never the request's own
// strings: Fiber hands out c.Method(), c.Path() and the path of c.Route() for
// an unmatched request as views of the connection's buffer, which the next
// request on it overwrites — a label kept in the registry then turned into
// "GETT" or "GETIONS", and two series with equal labels made every scrape a
// 500. The method maps to a constant, the route to the registered path of an
// endpoint (a string of the route table), everything else to "other" and
// "unmatched", which also bounds the labels an attacker can create.
//
// Why not fiber.Config.Immutable: it copies every string Fiber returns and
// every c.Body() — a push body of up to 4 MiB, twice per push (decode reads
// it) — to protect the few values kept past a request, which are copied where
// they are kept instead (here, the rate limiter's keys, the request id).
func (m *metrics) observe(c *fiber.Ctx, took time.Duration) {
	route := m.routeLabel(c)
	method := methodLabel(c.Method())
	status := c.Response().StatusCode()
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(took.Seconds())
	if status == fiber.StatusServiceUnavailable {
		m.unavailable.WithLabelValues(route).Inc()
	}
}

// routeLabel is the registered path of the endpoint that answered c, or
// "unmatched" (no endpoint: c.Route() is then a middleware's or the request's own path).
func (m *metrics) routeLabel(c *fiber.Ctx) string {
	m.routesOnce.Do(func() {
		m.routes = map[string]string{}
		for _, r := range c.App().GetRoutes(true) {
			if r.Path != "/" && r.Path != "" && len(r.Handlers) > 0 {
				m.routes[r.Method+" "+r.Path] = r.Path
			}
		}
	})
	if r := c.Route(); r != nil {
		if p, ok := m.routes[r.Method+" "+r.Path]; ok {
			return p
		}
	}
	return "unmatched"
}

// methodLabel maps a request method to a constant.
func methodLabel(method string) string {
	for _, k := range knownMethods {
		if method == k {
			return k
		}
	}
	return "other"
}

var knownMethods = []string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch,
	fiber.MethodDelete, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace}

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
