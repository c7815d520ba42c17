import { uuidv7 } from "@fieldsync/client";
import { useState } from "preact/hooks";
import { fmtTime, label, t } from "./i18n";
import { act, isSupervisor, siteName, state, update, useStore, type Rec } from "./state";
import { Badge, CATEGORIES, Countdown, DEPARTMENTS, METHODS, ORDER_CATEGORIES, Options, Photo, PRIORITIES, STAGES, Timeline } from "./ui";

/** Flags shows a complaint's overdue, escalation and callback flags. */
function Flags({ c }: { c: Rec }) {
  return (
    <span class="flags">
      {c.overdue && <Badge kind="red">{t("flag.overdue")}</Badge>}
      {c.escalation_level > 0 && <Badge kind="orange">{t("flag.escalated", { n: c.escalation_level })}</Badge>}
      {c.callback_overdue && <Badge kind="red">{t("flag.callback_overdue")}</Badge>}
      {c.valid === false && <Badge kind="grey">{t("flag.invalid")}</Badge>}
    </span>
  );
}

/** ComplaintsQueue lists the complaints by stage with their reply deadlines, filtered by site, category and stage. */
export function ComplaintsQueue() {
  const s = useStore();
  const [site, setSite] = useState("");
  const [cat, setCat] = useState("");
  const [stage, setStage] = useState("");
  const list = s.complaints
    .filter((c) => (!site || c.site_id === site) && (!cat || c.category === cat) && (!stage || c.stage === stage))
    .sort((a, b) => STAGES.indexOf(a.stage) - STAGES.indexOf(b.stage) || String(a.reply_by ?? "9").localeCompare(String(b.reply_by ?? "9")));
  const sites = [...new Set(s.complaints.map((c) => c.site_id as string))];
  return (
    <section>
      <h2>{t("complaints.title")}</h2>
      <div class="filters">
        <label>
          {t("filter.site")}
          <select value={site} onChange={(e) => setSite(e.currentTarget.value)} data-testid="filter-site">
            <option value="">{t("filter.all")}</option>
            {sites.map((id) => (
              <option value={id}>{siteName(id)}</option>
            ))}
          </select>
        </label>
        <label>
          {t("filter.category")}
          <select value={cat} onChange={(e) => setCat(e.currentTarget.value)} data-testid="filter-category">
            <Options prefix="cat" values={CATEGORIES} all />
          </select>
        </label>
        <label>
          {t("filter.stage")}
          <select value={stage} onChange={(e) => setStage(e.currentTarget.value)} data-testid="filter-stage">
            <Options prefix="stage" values={STAGES} all />
          </select>
        </label>
      </div>
      <div class="stagecounts">
        {STAGES.map((st) => (
          <span class={"stagecount" + (stage === st ? " on" : "")} onClick={() => setStage(stage === st ? "" : st)}>
            {label("stage", st)} <b>{s.complaints.filter((c) => c.stage === st && (!site || c.site_id === site)).length}</b>
          </span>
        ))}
      </div>
      {list.length === 0 ? (
        <p class="muted">{t("complaints.empty")}</p>
      ) : (
        <table class="list" data-testid="complaints">
          <thead>
            <tr>
              <th>{t("filter.stage")}</th>
              <th>{t("col.content")}</th>
              <th>{t("filter.category")}</th>
              <th>{t("filter.site")}</th>
              <th>{t("col.reply_by")}</th>
              <th>{t("col.flags")}</th>
              <th>{t("col.created")}</th>
            </tr>
          </thead>
          <tbody>
            {list.map((c) => (
              <tr data-id={c.id} data-stage={c.stage} onClick={() => (location.hash = "#/complaints/" + c.id)}>
                <td>
                  <span class={"stage " + c.stage}>{label("stage", c.stage)}</span>
                </td>
                <td class="content">{c.content}</td>
                <td>{label("cat", c.category)}</td>
                <td>{siteName(c.site_id)}</td>
                <td>{c.stage === "closed" ? t("never") : <Countdown at={c.reply_by} />}</td>
                <td>
                  <Flags c={c} />
                </td>
                <td>{fmtTime(c.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

type FieldSpec =
  | { name: string; kind: "text" | "textarea"; label: string; required?: boolean; value?: string }
  | { name: string; kind: "select"; label: string; options: { value: string; label: string }[]; required?: boolean; value?: string }
  | { name: string; kind: "number"; label: string; min: number; max: number; value?: string }
  | { name: string; kind: "datetime"; label: string; value?: string };

/** ActionForm is a button that opens a small form for an action's arguments. */
export function ActionForm({ name, title, fields, onSubmit }: { name: string; title: string; fields: FieldSpec[]; onSubmit: (v: Record<string, string>) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [values, setValues] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  if (!open) {
    return (
      <button
        type="button"
        class="action"
        data-action={name}
        onClick={() => {
          const init: Record<string, string> = {};
          for (const f of fields) init[f.name] = f.value ?? (f.kind === "select" && f.required ? (f.options[0]?.value ?? "") : "");
          setValues(init);
          if (fields.length === 0) {
            setBusy(true);
            void onSubmit({}).finally(() => setBusy(false));
            return;
          }
          setOpen(true);
        }}
        disabled={busy}
      >
        {title}
      </button>
    );
  }
  const set = (k: string, v: string) => setValues({ ...values, [k]: v });
  return (
    <form
      class="actionform"
      data-form={name}
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        try {
          await onSubmit(values);
          setOpen(false);
        } finally {
          setBusy(false);
        }
      }}
    >
      <h4>{title}</h4>
      {fields.map((f) => (
        <label>
          {f.label}
          {f.kind === "textarea" ? (
            <textarea name={f.name} required={f.required} value={values[f.name]} onInput={(e) => set(f.name, e.currentTarget.value)} />
          ) : f.kind === "select" ? (
            <select name={f.name} required={f.required} value={values[f.name]} onChange={(e) => set(f.name, e.currentTarget.value)}>
              {!f.required && <option value="">{t("field.auto")}</option>}
              {f.options.map((o) => (
                <option value={o.value}>{o.label}</option>
              ))}
            </select>
          ) : f.kind === "number" ? (
            <input type="number" name={f.name} min={f.min} max={f.max} required value={values[f.name]} onInput={(e) => set(f.name, e.currentTarget.value)} />
          ) : f.kind === "datetime" ? (
            <input type="datetime-local" name={f.name} required value={values[f.name]} onInput={(e) => set(f.name, e.currentTarget.value)} />
          ) : (
            <input type="text" name={f.name} required={f.required} value={values[f.name]} onInput={(e) => set(f.name, e.currentTarget.value)} />
          )}
        </label>
      ))}
      <div class="buttons">
        <button type="submit" data-submit={name} disabled={busy}>
          {t("submit")}
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          {t("cancel")}
        </button>
      </div>
    </form>
  );
}

const opts = (prefix: string, values: string[]) => values.map((v) => ({ value: v, label: label(prefix, v) }));

function localInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** ComplaintActions offers the actions of the complaint process its stage and the user's role allow. */
function ComplaintActions({ c }: { c: Rec }) {
  const s = state;
  if (s.pendingIds.has(c.id)) return <p class="muted" data-testid="awaiting-sync">{t("awaiting_sync")}</p>;
  const id = c.id;
  const a = (action: string) => (v: Record<string, unknown>) => act("complaints", id, action, v);
  const techs = s.staff.filter((m) => m.role === "technician" && m.site_ids.includes(c.site_id));
  const out = [];
  const stage = c.stage as string;
  if (stage === "received") {
    out.push(
      <ActionForm
        name="clarify"
        title={t("action.clarify")}
        fields={[
          { name: "category", kind: "select", label: t("field.category"), options: opts("cat", CATEGORIES), required: true, value: c.category },
          { name: "notes", kind: "textarea", label: t("notes") },
        ]}
        onSubmit={(v) => a("clarify")(strip(v))}
      />,
    );
  }
  if (stage === "clarifying") {
    out.push(<ActionForm name="start_resolving" title={t("action.start_resolving")} fields={[{ name: "notes", kind: "textarea", label: t("notes") }]} onSubmit={(v) => a("start_resolving")(strip(v))} />);
  }
  if (stage === "clarifying" || stage === "resolving") {
    out.push(
      <ActionForm
        name="create_work_order"
        title={t("action.create_work_order")}
        fields={[
          { name: "title", kind: "text", label: t("field.title"), required: true },
          { name: "department", kind: "select", label: t("field.department"), options: opts("dept", DEPARTMENTS), required: true },
          { name: "priority", kind: "select", label: t("field.priority"), options: opts("prio", PRIORITIES), required: true, value: "normal" },
          { name: "category", kind: "select", label: t("field.category"), options: opts("cat", ORDER_CATEGORIES), required: true, value: ORDER_CATEGORIES.includes(c.category) ? c.category : "other" },
          { name: "assignee_id", kind: "select", label: t("field.assignee"), options: techs.map((m) => ({ value: m.id, label: m.name + (m.department ? " · " + label("dept", m.department) : "") })) },
          { name: "description", kind: "textarea", label: t("field.description") },
        ]}
        onSubmit={(v) => a("create_work_order")({ ...strip(v), work_order_id: uuidv7() })}
      />,
    );
  }
  if (stage === "received" || stage === "clarifying") {
    out.push(<ActionForm name="invalidate" title={t("action.invalidate")} fields={[{ name: "reason", kind: "textarea", label: t("reason"), required: true }]} onSubmit={(v) => a("invalidate")(v)} />);
  }
  if (stage === "resolving") {
    out.push(<ActionForm name="resolve" title={t("action.resolve")} fields={[{ name: "notes", kind: "textarea", label: t("notes") }]} onSubmit={(v) => a("resolve")(strip(v))} />);
  }
  if (stage === "follow_up") {
    out.push(
      <ActionForm
        name="record_follow_up"
        title={t("action.record_follow_up")}
        fields={[
          { name: "method", kind: "select", label: t("field.method"), options: opts("method", METHODS), required: true },
          { name: "satisfaction", kind: "number", label: t("field.satisfaction"), min: 1, max: 5, value: "5" },
          { name: "notes", kind: "textarea", label: t("notes") },
        ]}
        onSubmit={(v) => a("record_follow_up")({ ...strip(v), satisfaction: Number(v.satisfaction) })}
      />,
    );
    if (c.followed_up_at) {
      out.push(<ActionForm name="close" title={t("action.close")} fields={[{ name: "result_summary", kind: "textarea", label: t("field.result_summary"), required: true }]} onSubmit={(v) => a("close")(v)} />);
    }
  }
  const level = (c.escalation_level as number) ?? 0;
  if ((stage === "resolving" || stage === "follow_up") && level < 2 && (level === 0 || isSupervisor())) {
    const role = level === 0 ? "supervisor" : "manager";
    const targets = s.staff.filter((m) => m.role === role && m.site_ids.includes(c.site_id));
    out.push(
      <ActionForm
        name="escalate"
        title={t("action.escalate") + " L" + (level + 1)}
        fields={[
          { name: "reason", kind: "textarea", label: t("reason"), required: true },
          { name: "to_user_id", kind: "select", label: t("field.escalate_to"), options: targets.map((m) => ({ value: m.id, label: m.name })) },
        ]}
        onSubmit={(v) => a("escalate")(strip(v))}
      />,
    );
  }
  if (stage === "closed" && isSupervisor()) {
    out.push(<ActionForm name="reopen" title={t("action.reopen")} fields={[{ name: "reason", kind: "textarea", label: t("reason"), required: true }]} onSubmit={(v) => a("reopen")(v)} />);
  }
  if (stage !== "closed" && stage !== "follow_up") {
    out.push(
      <ActionForm
        name="set_callback"
        title={t("action.set_callback")}
        fields={[{ name: "at", kind: "datetime", label: t("field.callback_at"), value: localInput(new Date(Date.now() + 2 * 3600_000)) }]}
        onSubmit={(v) => update("complaints", id, { callback_minutes: Math.min(43200, Math.max(1, Math.ceil((new Date(v.at).getTime() - Date.now()) / 60000))) })}
      />,
    );
  }
  return out.length ? <div class="actions">{out}</div> : <p class="muted">{t("complaint.no_actions")}</p>;
}

/** strip drops empty arguments (an empty optional select or note). */
function strip(v: Record<string, string>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (x !== "") o[k] = x;
  return o;
}

/** ComplaintPage shows one complaint: facts, photos, linked orders, timeline and its actions. */
export function ComplaintPage({ id }: { id: string }) {
  const s = useStore();
  const c = s.complaints.find((x) => x.id === id);
  if (!c) return <p class="muted">{t("complaint.not_found")}</p>;
  const orders = (c.work_orders as Rec[] | undefined) ?? [];
  return (
    <section class="detail" data-testid="complaint" data-stage={c.stage} data-level={String(c.escalation_level ?? 0)}>
      <a href="#/complaints">← {t("back")}</a>
      <h2>
        <span class={"stage " + c.stage} data-testid="stage">
          {label("stage", c.stage)}
        </span>{" "}
        {c.content}
      </h2>
      <Flags c={c} />
      <div class="cols">
        <div>
          <h3>{t("complaint.facts")}</h3>
          <dl>
            <dt>{t("filter.category")}</dt>
            <dd>{label("cat", c.category)}</dd>
            <dt>{t("complaint.channel")}</dt>
            <dd>{label("channel", c.channel)}</dd>
            <dt>{t("filter.site")}</dt>
            <dd>{siteName(c.site_id)}</dd>
            <dt>{t("complaint.location")}</dt>
            <dd>{[c.building, c.unit].filter(Boolean).join(" ") || t("never")}</dd>
            <dt>{t("complaint.owner")}</dt>
            <dd>{c.owner_name || t("never")}</dd>
            <dt>{t("complaint.phone")}</dt>
            <dd>{c.owner_phone || t("never")}</dd>
            <dt>{t("complaint.registered_by")}</dt>
            <dd>
              {c.created_by_name} · {fmtTime(c.created_at)}
            </dd>
            <dt>{t("col.reply_by")}</dt>
            <dd>{c.stage === "closed" ? t("never") : <Countdown at={c.reply_by} testid="reply-by" />}</dd>
            <dt>{t("complaint.callback_by")}</dt>
            <dd data-testid="callback-by">
              {fmtTime(c.callback_by)} {c.stage !== "closed" && c.stage !== "follow_up" && <Countdown at={c.callback_by} />}
            </dd>
            {c.escalated_to_name && (
              <>
                <dt>{t("complaint.escalated_to")}</dt>
                <dd>
                  L{c.escalation_level} · {c.escalated_to_name}
                </dd>
              </>
            )}
            {c.satisfaction && (
              <>
                <dt>{t("complaint.satisfaction")}</dt>
                <dd>{"★".repeat(c.satisfaction)}</dd>
              </>
            )}
            {c.validity_reason && (
              <>
                <dt>{t("complaint.validity_reason")}</dt>
                <dd>{c.validity_reason}</dd>
              </>
            )}
            {c.result_summary && (
              <>
                <dt>{t("complaint.result")}</dt>
                <dd>{c.result_summary}</dd>
              </>
            )}
          </dl>
          <h3>{t("complaint.photos")}</h3>
          <div class="photos">{(c.photo_ids as string[] | undefined)?.length ? (c.photo_ids as string[]).map((p) => <Photo id={p} />) : <span class="muted">{t("complaint.no_photos")}</span>}</div>
          <h3>{t("complaint.orders")}</h3>
          {orders.length === 0 ? (
            <p class="muted">{t("complaint.no_orders")}</p>
          ) : (
            <ul class="orders" data-testid="linked-orders">
              {orders.map((o) => {
                const full = s.orders.find((x) => x.id === o.id);
                return (
                  <li data-id={o.id} data-status={full?.status ?? o.status}>
                    <a href={"#/dispatch/" + o.id}>{o.title}</a> · <span class={"status " + (full?.status ?? o.status)}>{label("status", full?.status ?? o.status)}</span> · {full?.assignee_name ?? o.assignee_name ?? t("dispatch.unassigned")}
                  </li>
                );
              })}
            </ul>
          )}
        </div>
        <div>
          <h3>{t("complaint.actions")}</h3>
          <ComplaintActions c={c} />
          <h3>{t("complaint.timeline")}</h3>
          <Timeline entries={c.timeline as any[]} prefix="stage" />
        </div>
      </div>
    </section>
  );
}
