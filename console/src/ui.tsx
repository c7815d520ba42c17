import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { fmtDuration, fmtTime, label, lang, t } from "./i18n";
import { getJSON } from "./state";

/** Countdown shows the time left to a deadline, or how far past it is. */
export function Countdown({ at, testid }: { at: unknown; testid?: string }) {
  if (typeof at !== "string" || !at) return <span class="muted">{t("never")}</span>;
  const ms = Date.parse(at) - Date.now();
  const cls = ms < 0 ? "cd over" : ms < 3600_000 ? "cd soon" : "cd";
  return (
    <span class={cls} title={fmtTime(at)} data-testid={testid}>
      {ms < 0 ? t("countdown.over", { t: fmtDuration(ms) }) : t("countdown.left", { t: fmtDuration(ms) })}
    </span>
  );
}

/** Badge is a small coloured flag. */
export function Badge({ kind, children }: { kind: string; children: ComponentChildren }) {
  return <span class={"badge " + kind}>{children}</span>;
}

interface MediaInfo {
  status: string;
  urls?: { original?: string; thumbnail?: string };
}

const mediaCache = new Map<string, Promise<MediaInfo>>();

function media(id: string): Promise<MediaInfo> {
  let p = mediaCache.get(id);
  if (!p) {
    p = getJSON<MediaInfo>("/v1/media/" + id);
    // Download URLs are short-lived: ask again after a minute.
    setTimeout(() => mediaCache.delete(id), 60_000);
    p.catch(() => mediaCache.delete(id));
    mediaCache.set(id, p);
  }
  return p;
}

/** Photo is a thumbnail that opens the full photo. */
export function Photo({ id }: { id: string }) {
  const [info, setInfo] = useState<MediaInfo | undefined>();
  const [open, setOpen] = useState(false);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    media(id).then(
      (m) => live && setInfo(m),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [id]);
  if (failed || (info && info.status !== "stored")) return <span class="photo missing">{t("photo.missing")}</span>;
  if (!info) return <span class="photo loading" />;
  const thumb = info.urls?.thumbnail ?? info.urls?.original;
  return (
    <>
      <img class="photo" src={thumb} alt="" data-testid="thumbnail" onClick={() => setOpen(true)} />
      {open && (
        <div class="modal" onClick={() => setOpen(false)}>
          <img class="full" src={info.urls?.original} alt="" data-testid="full-photo" />
          <button type="button">{t("photo.close")}</button>
        </div>
      )}
    </>
  );
}

/** Options lists enum values as <option>s with their labels. */
export function Options({ prefix, values, all }: { prefix: string; values: string[]; all?: boolean }) {
  return (
    <>
      {all && <option value="">{t("filter.all")}</option>}
      {values.map((v) => (
        <option value={v}>{label(prefix, v)}</option>
      ))}
    </>
  );
}

export const STAGES = ["received", "clarifying", "resolving", "follow_up", "closed"];
export const CATEGORIES = ["facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other", "security", "noise", "parking", "fees", "service"];
export const ORDER_CATEGORIES = ["facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other"];
export const STATUSES = ["open", "assigned", "accepted", "in_progress", "on_hold", "completed", "verified", "cancelled"];
export const DEPARTMENTS = ["engineering", "environment", "security", "customer_service"];
export const PRIORITIES = ["urgent", "normal", "low"];
export const METHODS = ["phone", "visit", "sms", "app"];

/** Timeline renders a record's timeline in the UI's language from each entry's action, stages and note. */
export function Timeline({ entries, prefix }: { entries: any[]; prefix: string }) {
  const list = [...(entries ?? [])].sort((a, b) => String(a.at).localeCompare(String(b.at)));
  return (
    <ol class="timeline" data-testid="timeline">
      {list.map((e) => (
        <li data-action={e.action}>
          <span class="when">{fmtTime(e.at)}</span> <b>{e.by === "server" ? t("by.server") : e.by_name || e.by}</b> {label("action", e.action)}
          {e.from && e.to && e.from !== e.to && (
            <span class="muted">
              {" "}
              ({label(prefix, e.from)} → {label(prefix, e.to)})
            </span>
          )}
          {e.note && <div class="note">{noteText(e)}</div>}
        </li>
      ))}
    </ol>
  );
}

// The server writes a few timeline notes of its own, in fixed English words
// (the staff's own notes are kept as typed); the console shows those in the
// reader's language. The rest of an entry (who, what, from which stage to
// which) is rendered from its fields, so a timeline reads wholly in Chinese or
// in English whatever language its writers used.
const serverNotes: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^work order ([0-9a-f-]{36})$/, (m) => "工单 " + m[1].slice(0, 8)],
  [/^(inspections|complaints) ([0-9a-f-]{36})$/, (m) => (m[1] === "inspections" ? "来自巡查 " : "来自投诉 ") + m[2].slice(0, 8)],
  [/^satisfaction (\d)$/, (m) => "满意度 " + m[1]],
  [/^reply deadline (\S+) passed$/, (m) => "回复期限 " + fmtTime(m[1]) + " 已过"],
  [/^urgent order not accepted by its respond-by deadline(?:; escalated to (.+))?$/, (m) => "紧急工单未在响应期限内接单" + (m[1] ? "；已升级至 " + m[1] : "")],
  [/^to (.+?)(?:, reassigned from (.+?))?(?:\. ([\s\S]*))?$/, (m) => "派给 " + m[1] + (m[2] ? "，原处理人 " + m[2] : "") + (m[3] ? "。" + m[3] : "")],
];

/** noteText is an entry's note, the server's own words in the reader's language. */
export function noteText(e: { action?: string; note?: string }): string {
  const note = e.note ?? "";
  if (lang() !== "zh-CN") return note;
  for (const [re, f] of serverNotes) {
    if (re.source.startsWith("^to ") && e.action !== "assign") continue;
    const m = note.match(re);
    if (m) return f(m);
  }
  return note;
}
