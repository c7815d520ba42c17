import { fmtTime, label, t } from "./i18n";
import { siteName, useStore, type Rec } from "./state";
import { Badge, Photo } from "./ui";

/** parts joins the non-empty values with a middle dot. */
function parts(...v: unknown[]): string {
  return v.filter((x) => typeof x === "string" && x !== "").join(" · ");
}

/** FieldFeed lists inspections and patrol rounds as they arrive, newest first, with their photos. */
export function FieldFeed() {
  const s = useStore();
  const items: { at: string; kind: "inspection" | "round"; r: Rec }[] = [
    ...s.inspections.map((r) => ({ at: String(r.created_at ?? ""), kind: "inspection" as const, r })),
    ...s.rounds.map((r) => ({ at: String(r.updated_at ?? r.created_at ?? ""), kind: "round" as const, r })),
  ].sort((a, b) => b.at.localeCompare(a.at));
  return (
    <section>
      <h2>{t("feed.title")}</h2>
      {items.length === 0 && <p class="muted">{t("feed.empty")}</p>}
      <ul class="feed" data-testid="feed">
        {items.slice(0, 200).map(({ kind, r }) =>
          kind === "inspection" ? (
            <li class="inspection" data-id={r.id}>
              <div>
                <Badge kind={r.severity === "critical" || r.severity === "high" ? "red" : "grey"}>{label("severity", r.severity)}</Badge> <b>{t("feed.inspection")}</b> · {parts(label("cat", r.category), siteName(r.site_id), r.location)}
                <span class="muted"> · {parts(r.created_by_name, fmtTime(r.created_at))}</span>
              </div>
              <div>{r.description}</div>
              <div class="photos">
                {((r.photo_ids as string[]) ?? []).map((p) => (
                  <Photo id={p} />
                ))}
              </div>
            </li>
          ) : (
            <li class="round" data-id={r.id}>
              <b>{t("feed.round")}</b> · {parts(siteName(r.site_id), r.created_by_name, r.ended_at ? t("feed.round_done") : t("feed.round_running"), t("feed.scans", { n: ((r.scans as unknown[]) ?? []).length }))}{" "}
              {((r.missed as unknown[]) ?? []).length > 0 && <Badge kind="red">{t("feed.missed", { n: (r.missed as unknown[]).length })}</Badge>}
              <span class="muted"> · {fmtTime(r.started_at)}</span>
            </li>
          ),
        )}
      </ul>
    </section>
  );
}
