import { FieldsyncError } from "@fieldsync/client";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ComplaintPage, ComplaintsQueue } from "./complaints";
import { DispatchBoard, OrderPage } from "./dispatch";
import { FieldFeed } from "./feed";
import { lang, setLang, t } from "./i18n";
import { Reports } from "./reports";
import { isDesk, login, logout, rerender, start, useStore } from "./state";

function useHash(): string {
  const [h, setH] = useState(location.hash);
  useEffect(() => {
    const f = () => setH(location.hash);
    window.addEventListener("hashchange", f);
    return () => window.removeEventListener("hashchange", f);
  }, []);
  return h;
}

function LangSwitch() {
  return (
    <span class="lang">
      <button type="button" class={lang() === "zh-CN" ? "on" : ""} onClick={() => (setLang("zh-CN"), rerender())} data-lang="zh-CN">
        中文
      </button>
      <button type="button" class={lang() === "en" ? "on" : ""} onClick={() => (setLang("en"), rerender())} data-lang="en">
        EN
      </button>
    </span>
  );
}

function Login() {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [err, setErr] = useState("");
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="login"
      data-testid="login"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setErr("");
        try {
          await login(username, password);
        } catch (x) {
          setErr(t("login.failed", { detail: x instanceof FieldsyncError ? (x.problem?.detail ?? x.code) : String(x) }));
        } finally {
          setBusy(false);
        }
      }}
    >
      <h1>fieldsync · {t("login.title")}</h1>
      <LangSwitch />
      <label>
        {t("login.username")}
        <input name="username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
      </label>
      <label>
        {t("login.password")}
        <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
      </label>
      <button type="submit" disabled={busy}>
        {t("login.submit")}
      </button>
      {err && <p class="error" data-testid="login-error">{err}</p>}
    </form>
  );
}

function Setup({ token }: { token: string }) {
  const [v, setV] = useState({ tenant: "", username: "admin", password: "", name: "" });
  const [msg, setMsg] = useState("");
  const [done, setDone] = useState(false);
  const set = (k: string) => (e: Event) => setV({ ...v, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <form
      class="login"
      data-testid="setup"
      onSubmit={async (e) => {
        e.preventDefault();
        const res = await fetch("/v1/setup", { method: "POST", headers: { "Content-Type": "application/json", "Accept-Language": lang() }, body: JSON.stringify({ token, ...v }) });
        if (res.ok) {
          setDone(true);
          setMsg(t("setup.done", { username: v.username }));
        } else {
          const p = await res.json().catch(() => ({}));
          setMsg(t("setup.failed", { detail: p.detail ?? res.status }));
        }
      }}
    >
      <h1>fieldsync · {t("setup.title")}</h1>
      <LangSwitch />
      <p>{t("setup.intro")}</p>
      <label>
        {t("setup.tenant")}
        <input name="tenant" value={v.tenant} onInput={set("tenant")} required pattern="[a-z0-9][a-z0-9_-]*" />
      </label>
      <label>
        {t("setup.name")}
        <input name="name" value={v.name} onInput={set("name")} required />
      </label>
      <label>
        {t("login.username")}
        <input name="username" value={v.username} onInput={set("username")} required />
      </label>
      <label>
        {t("login.password")}
        <input name="password" type="password" value={v.password} onInput={set("password")} required minLength={8} />
      </label>
      <button type="submit" disabled={done}>
        {t("submit")}
      </button>
      {msg && (
        <p class={done ? "ok" : "error"} data-testid="setup-result">
          {msg} {done && <a href="#/complaints">{t("login.submit")}</a>}
        </p>
      )}
    </form>
  );
}

function StatusBar() {
  const s = useStore();
  return (
    <span class="status-bar">
      <span class={"dot " + (s.online ? "online" : "offline")} data-testid="online" data-online={String(s.online)}>
        {s.online ? t("status.online") : t("status.offline")}
      </span>
      <span class={"pending" + (s.pending ? " some" : "")} data-testid="pending" data-pending={String(s.pending)}>
        {s.pending ? t("status.pending", { n: s.pending }) : t("status.synced")}
      </span>
    </span>
  );
}

function App() {
  const s = useStore();
  const hash = useHash();
  useEffect(() => {
    const i = setInterval(rerender, 10_000);
    return () => clearInterval(i);
  }, []);
  if (hash.startsWith("#/setup")) {
    return <Setup token={new URLSearchParams(hash.split("?")[1] ?? "").get("token") ?? ""} />;
  }
  if (!s.ready) return null;
  if (!s.user) return <Login />;
  if (!isDesk(s.user)) {
    return (
      <div class="login">
        <p>{t("login.desk_only")}</p>
        <button type="button" onClick={() => void logout()}>
          {t("logout")}
        </button>
      </div>
    );
  }
  const [, route, id] = hash.split("/");
  let page;
  if (route === "complaints" && id) page = <ComplaintPage id={id} />;
  else if (route === "dispatch" && id) page = <OrderPage id={id} />;
  else if (route === "dispatch") page = <DispatchBoard />;
  else if (route === "feed") page = <FieldFeed />;
  else if (route === "reports") page = <Reports />;
  else page = <ComplaintsQueue />;
  const nav = (r: string) => (route === r || (!route && r === "complaints") ? "on" : "");
  return (
    <>
      <header>
        <b>fieldsync · {t("app.title")}</b>
        <nav>
          <a href="#/complaints" class={nav("complaints")} data-nav="complaints">
            {t("nav.complaints")}
          </a>
          <a href="#/dispatch" class={nav("dispatch")} data-nav="dispatch">
            {t("nav.dispatch")}
          </a>
          <a href="#/feed" class={nav("feed")} data-nav="feed">
            {t("nav.feed")}
          </a>
          <a href="#/reports" class={nav("reports")} data-nav="reports">
            {t("nav.reports")}
          </a>
        </nav>
        <StatusBar />
        <LangSwitch />
        <span class="user" data-testid="user">
          {s.user.name}
        </span>
        <button type="button" class="link" onClick={() => void logout()}>
          {t("logout")}
        </button>
      </header>
      {s.notice && (
        <div class={"notice " + s.notice.kind} data-testid="notice">
          {t(s.notice.key, s.notice.args)}
        </div>
      )}
      <main>{page}</main>
    </>
  );
}

document.documentElement.lang = lang();
render(<App />, document.getElementById("app")!);
void start();
