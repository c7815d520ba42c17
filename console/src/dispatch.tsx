import { useState } from "preact/hooks";
import { ActionForm } from "./complaints";
import { label, t } from "./i18n";
import { act, siteName, state, useStore, type Rec } from "./state";
import { Badge, Countdown, Photo, STATUSES, Timeline } from "./ui";

const ACTIVE = ["open", "assigned", "accepted", "in_progress", "on_hold"];

/** technicians lists who may take the order: active technicians of its site and, when it has one, its department. */
function technicians(o: Rec) {
  return state.staff.filter((m) => m.role === "technician" && m.site_ids.includes(o.site_id) && (!o.department || !m.department || m.department === o.department));
}

/** assigneeName names the order's technician (from the order, else the staff directory). */
export function assigneeName(o: Rec): string {
  if (!o.assignee_id) return t("dispatch.unassigned");
  return (o.assignee_name as string) ?? state.staff.find((m) => m.id === o.assignee_id)?.name ?? o.assignee_id;
}

/** OrderActions offers the desk's actions on a work order: assign/reassign, verify, reopen, cancel. */
function OrderActions({ o }: { o: Rec }) {
  const a = (action: string) => (v: Record<string, unknown>) => act("work_orders", o.id, action, v);
  const st = o.status as string;
  if (state.pendingIds.has(o.id)) return <p class="muted">{t("awaiting_sync")}</p>;
  const out = [];
  if (ACTIVE.includes(st)) {
    const techs = technicians(o);
    out.push(
      techs.length ? (
        <ActionForm
          name="assign"
          title={o.assignee_id ? t("action.reassign") : t("action.assign")}
          fields={[{ name: "assignee_id", kind: "select", label: t("dispatch.choose"), required: true, options: techs.filter((m) => m.id !== o.assignee_id).map((m) => ({ value: m.id, label: m.name + (m.department ? " · " + label("dept", m.department) : "") })) }]}
          onSubmit={(v) => a("assign")(v)}
        />
      ) : (
        <span class="muted">{t("dispatch.no_techs")}</span>
      ),
    );
    out.push(<ActionForm name="cancel" title={t("action.cancel")} fields={[{ name: "reason", kind: "textarea", label: t("reason"), required: true }]} onSubmit={(v) => a("cancel")(v)} />);
  }
  if (st === "completed") {
    out.push(
      <ActionForm
        name="verify"
        title={t("action.verify")}
        fields={[
          { name: "satisfaction", kind: "number", label: t("field.satisfaction"), min: 1, max: 5, value: "5" },
          { name: "notes", kind: "textarea", label: t("notes") },
        ]}
        onSubmit={(v) => a("verify")(v.notes ? { satisfaction: Number(v.satisfaction), notes: v.notes } : { satisfaction: Number(v.satisfaction) })}
      />,
    );
  }
  if (st === "completed" || st === "verified") {
    out.push(<ActionForm name="reopen" title={t("action.reopen")} fields={[{ name: "reason", kind: "textarea", label: t("reason"), required: true }]} onSubmit={(v) => a("reopen")(v)} />);
  }
  return <div class="actions">{out}</div>;
}

/** OrderCard is one work order on the board. */
function OrderCard({ o }: { o: Rec }) {
  const active = ACTIVE.includes(o.status);
  return (
    <div class={"card prio-" + o.priority} data-id={o.id} data-status={o.status}>
      <a class="title" href={"#/dispatch/" + o.id}>
        {o.title}
      </a>
      <div class="meta">
        {label("prio", o.priority)} · {label("dept", o.department)} · {siteName(o.site_id)}
      </div>
      <div class="meta" data-testid="assignee">
        {assigneeName(o)}
      </div>
      {active && (
        <div class="meta">
          {!o.accepted_at && (
            <>
              {t("dispatch.respond_by")} <Countdown at={o.respond_by} />{" "}
            </>
          )}
          {t("dispatch.resolve_by")} <Countdown at={o.resolve_by} />
        </div>
      )}
      {o.overdue && active && <Badge kind="red">{t("flag.overdue")}</Badge>}
      {o.escalated && <Badge kind="orange">{t("flag.escalated", { n: 1 })}</Badge>}
      <OrderActions o={o} />
    </div>
  );
}

/** DispatchBoard shows the work orders in columns by status, or by technician. */
export function DispatchBoard() {
  const s = useStore();
  const [by, setBy] = useState<"status" | "tech">("status");
  const [site, setSite] = useState("");
  const orders = s.orders.filter((o) => !site || o.site_id === site).sort((a, b) => String(a.resolve_by ?? "").localeCompare(String(b.resolve_by ?? "")));
  const sites = [...new Set(s.orders.map((o) => o.site_id as string))];
  let columns: { key: string; title: string; items: Rec[] }[];
  if (by === "status") {
    columns = STATUSES.map((st) => ({ key: st, title: label("status", st), items: orders.filter((o) => o.status === st) }));
  } else {
    const techs = new Map<string, string>();
    for (const o of orders) if (o.assignee_id && ACTIVE.includes(o.status)) techs.set(o.assignee_id, assigneeName(o));
    columns = [
      { key: "unassigned", title: t("dispatch.unassigned"), items: orders.filter((o) => !o.assignee_id && ACTIVE.includes(o.status)) },
      ...[...techs].map(([id, name]) => ({ key: id, title: name, items: orders.filter((o) => o.assignee_id === id && ACTIVE.includes(o.status)) })),
    ];
  }
  return (
    <section>
      <h2>{t("dispatch.title")}</h2>
      <div class="filters">
        <label>
          {t("filter.site")}
          <select value={site} onChange={(e) => setSite(e.currentTarget.value)}>
            <option value="">{t("filter.all")}</option>
            {sites.map((id) => (
              <option value={id}>{siteName(id)}</option>
            ))}
          </select>
        </label>
        <span class="toggle">
          <button type="button" class={by === "status" ? "on" : ""} onClick={() => setBy("status")}>
            {t("dispatch.by_status")}
          </button>
          <button type="button" class={by === "tech" ? "on" : ""} onClick={() => setBy("tech")} data-testid="by-tech">
            {t("dispatch.by_tech")}
          </button>
        </span>
      </div>
      <div class="board" data-testid="board">
        {columns.map((col) => (
          <div class="column" data-column={col.key}>
            <h3>
              {col.title} <span class="muted">{col.items.length}</span>
            </h3>
            {col.items.length === 0 ? <p class="muted">{t("dispatch.empty")}</p> : col.items.map((o) => <OrderCard o={o} />)}
          </div>
        ))}
      </div>
    </section>
  );
}

/** OrderPage shows one work order with its photos and timeline. */
export function OrderPage({ id }: { id: string }) {
  const s = useStore();
  const o = s.orders.find((x) => x.id === id);
  if (!o) return <p class="muted">{t("complaint.not_found")}</p>;
  const photos = [...((o.before_photo_ids as string[]) ?? []), ...((o.after_photo_ids as string[]) ?? [])];
  return (
    <section class="detail" data-testid="order" data-status={o.status}>
      <a href="#/dispatch">← {t("back")}</a>
      <h2>
        <span class={"status " + o.status}>{label("status", o.status)}</span> {o.title}
      </h2>
      <div class="cols">
        <div>
          <OrderCard o={o} />
          {o.description && <p>{o.description}</p>}
          {o.resolution && <p class="note">{o.resolution}</p>}
          <div class="photos">
            {photos.map((p) => (
              <Photo id={p} />
            ))}
          </div>
        </div>
        <div>
          <h3>{t("complaint.timeline")}</h3>
          <Timeline entries={o.timeline as any[]} prefix="status" />
        </div>
      </div>
    </section>
  );
}
