import { ArcElement, BarController, BarElement, CategoryScale, Chart, DoughnutController, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from "chart.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { label, lang, t } from "./i18n";
import { client, getJSON, siteName, useStore } from "./state";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, DoughnutController, ArcElement, LineController, LineElement, PointElement, Legend, Tooltip);

const COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c", "#475569", "#0d9488", "#9333ea"];

interface Report {
  total: number;
  by_category: Record<string, number>;
  by_state: Record<string, number>;
  overdue: number;
  escalated: number;
  rated: number;
  avg_satisfaction: number | null;
  resolved: number;
}

interface PeriodReport {
  periods: { start: string; total: number; overdue: number; resolved: number }[];
}

/** ChartBox draws one Chart.js chart into a canvas and redraws it when its data change. */
function ChartBox({ id, type, labels, series }: { id: string; type: "bar" | "doughnut" | "line"; labels: string[]; series: { label: string; data: number[] }[] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = new Chart(ref.current, {
      type,
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.data,
          backgroundColor: type === "doughnut" ? COLORS : COLORS[i % COLORS.length],
          borderColor: type === "line" ? COLORS[i % COLORS.length] : undefined,
        })),
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: type !== "bar" || series.length > 1 } } },
    });
    return () => chart.destroy();
  }, [JSON.stringify({ type, labels, series })]);
  return (
    <div class="chart" data-chart={id}>
      <canvas ref={ref} />
    </div>
  );
}

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Reports shows the complaint and work-order reports of a site as charts, with the server's CSV exports. */
export function Reports() {
  const s = useStore();
  const sites = s.user?.site_ids ?? [];
  const [site, setSite] = useState(sites[0] ?? "");
  const [from, setFrom] = useState(isoDay(new Date(Date.now() - 30 * 86400_000)));
  const [to, setTo] = useState(isoDay(new Date(Date.now() + 86400_000)));
  const [period, setPeriod] = useState("day");
  const [data, setData] = useState<{ c: Report; w: Report; cp: PeriodReport; wp: PeriodReport } | undefined>();
  const [err, setErr] = useState("");
  const q = () => `site=${encodeURIComponent(site)}&from=${from}T00:00:00Z&to=${to}T00:00:00Z`;
  const load = async () => {
    setErr("");
    try {
      const tz = encodeURIComponent(Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
      const [c, w, cp, wp] = await Promise.all([
        getJSON<Report>("/v1/reports/complaints?" + q()),
        getJSON<Report>("/v1/reports/work-orders?" + q()),
        getJSON<PeriodReport>(`/v1/reports/complaints/periods?${q()}&period=${period}&tz=${tz}`),
        getJSON<PeriodReport>(`/v1/reports/work-orders/periods?${q()}&period=${period}&tz=${tz}`),
      ]);
      setData({ c, w, cp, wp });
    } catch (e) {
      setErr(navigator.onLine ? String((e as Error).message) : t("reports.offline"));
    }
  };
  useEffect(() => {
    if (site) void load();
  }, [site, period]);
  const csv = async (path: string, name: string) => {
    const res = await client.request("GET", path + (path.includes("?") ? "&" : "?") + q() + "&format=csv");
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  const figures = (r: Report, orders: boolean) => (
    <div class="figures">
      <div>
        <b data-figure="total">{r.total}</b>
        {t("reports.total")}
      </div>
      <div>
        <b data-figure="overdue">{r.overdue}</b>
        {t("reports.overdue")}
      </div>
      <div>
        <b>{r.escalated}</b>
        {t("reports.escalated")}
      </div>
      <div>
        <b>{r.resolved}</b>
        {t("reports.resolved")}
      </div>
      <div>
        <b>{r.avg_satisfaction === null ? "—" : r.avg_satisfaction.toFixed(1)}</b>
        {t("reports.avg_satisfaction")}
        {orders ? "" : ""}
      </div>
    </div>
  );
  const fmtPeriod = (p: string) => new Date(p).toLocaleDateString(lang() === "en" ? "en-GB" : "zh-CN", { month: "2-digit", day: "2-digit" });
  return (
    <section>
      <h2>{t("reports.title")}</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          {t("filter.site")}
          <select value={site} onChange={(e) => setSite(e.currentTarget.value)}>
            {sites.map((id) => (
              <option value={id}>{siteName(id)}</option>
            ))}
          </select>
        </label>
        <label>
          {t("reports.from")}
          <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          {t("reports.to")}
          <input type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <label>
          {t("reports.period")}
          <select value={period} onChange={(e) => setPeriod(e.currentTarget.value)}>
            {["day", "week", "month"].map((p) => (
              <option value={p}>{label("period", p)}</option>
            ))}
          </select>
        </label>
        <button type="submit">{t("reports.load")}</button>
      </form>
      {err && <p class="error">{err}</p>}
      {data && (
        <div class="reports" data-testid="reports">
          <div class="report">
            <h3>
              {t("reports.complaints")}{" "}
              <button type="button" class="link" onClick={() => void csv("/v1/reports/complaints", "complaints.csv")}>
                {t("reports.csv")}
              </button>{" "}
              <button type="button" class="link" onClick={() => void csv(`/v1/reports/complaints/periods?period=${period}`, "complaints-periods.csv")}>
                {t("reports.csv")} ({label("period", period)})
              </button>
            </h3>
            {figures(data.c, false)}
            <div class="charts">
              <div>
                <h4>{t("reports.by_category")}</h4>
                <ChartBox id="complaints-category" type="bar" labels={Object.keys(data.c.by_category).map((k) => label("cat", k))} series={[{ label: t("reports.complaints"), data: Object.values(data.c.by_category) }]} />
              </div>
              <div>
                <h4>{t("reports.by_stage")}</h4>
                <ChartBox id="complaints-stage" type="doughnut" labels={Object.keys(data.c.by_state).map((k) => label("stage", k))} series={[{ label: t("reports.complaints"), data: Object.values(data.c.by_state) }]} />
              </div>
            </div>
          </div>
          <div class="report">
            <h3>
              {t("reports.work_orders")}{" "}
              <button type="button" class="link" onClick={() => void csv("/v1/reports/work-orders", "work-orders.csv")}>
                {t("reports.csv")}
              </button>{" "}
              <button type="button" class="link" onClick={() => void csv(`/v1/reports/work-orders/periods?period=${period}`, "work-orders-periods.csv")}>
                {t("reports.csv")} ({label("period", period)})
              </button>
            </h3>
            {figures(data.w, true)}
            <div class="charts">
              <div>
                <h4>{t("reports.by_status")}</h4>
                <ChartBox id="orders-status" type="bar" labels={Object.keys(data.w.by_state).map((k) => label("status", k))} series={[{ label: t("reports.work_orders"), data: Object.values(data.w.by_state) }]} />
              </div>
              <div>
                <h4>{t("reports.by_category")}</h4>
                <ChartBox id="orders-category" type="doughnut" labels={Object.keys(data.w.by_category).map((k) => label("cat", k))} series={[{ label: t("reports.work_orders"), data: Object.values(data.w.by_category) }]} />
              </div>
            </div>
          </div>
          <div class="report wide">
            <h3>{t("reports.per_period")}</h3>
            <ChartBox
              id="periods"
              type="line"
              labels={data.cp.periods.map((p) => fmtPeriod(p.start))}
              series={[
                { label: t("reports.complaints"), data: data.cp.periods.map((p) => p.total) },
                { label: t("reports.work_orders"), data: data.wp.periods.map((p) => p.total) },
                { label: t("reports.work_orders") + " · " + t("reports.overdue"), data: data.wp.periods.map((p) => p.overdue) },
              ]}
            />
          </div>
        </div>
      )}
    </section>
  );
}
