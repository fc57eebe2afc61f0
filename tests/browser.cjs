// Drives Debian's Chromium through playwright-core over the /memories page and /status charts
// of a running memoryd, the way a person would, and prints what it saw as one JSON object on
// stdout. tests/browser.rs starts the server, seeds it, runs this, and checks every result
// through real MCP calls to the same server.
//
// usage: node tests/browser.cjs BASE_URL PLAN_JSON
//   PLAN_JSON: {"query", "open_id", "tag", "delete_id", "xss_id", "role", "task",
//               "other_namespace", "other_id", "screenshots": DIR or null}
//   or, with "scenario": "lifecycle", the plan of `lifecycle` below.
// playwright-core comes from NODE_PATH (scripts/test installs it under target/); no browser
// is downloaded: Chromium is /usr/bin/chromium.
"use strict";
const { chromium } = require("playwright-core");

const [base, planText] = process.argv.slice(2);
const plan = JSON.parse(planText);
const out = { outside_requests: [], steps: [] };

function step(name) {
  out.steps.push(name);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    context.setDefaultTimeout(10000);
    // Every request any page makes; the memoryd pages must stay on memoryd.
    const seen = [];
    context.on("request", r => seen.push(r.url()));
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", e => errors.push(String(e)));
    page.on("dialog", d => { out.native_dialog = d.message(); d.dismiss(); });

    const scenario = plan.scenario === "lifecycle" ? lifecycle : curate;
    await scenario({ context, page, seen, errors });
  } finally {
    await browser.close();
  }
}

// The first scenario: find, read, curate, delete, filter, preview, the /status charts, and
// forged requests from elsewhere.
async function curate({ context, page, seen, errors }) {
  // ---- the browser: the list, newest first, with paging ----
  await page.goto(base + "/memories");
  await page.waitForSelector('body[data-ready="1"]');
  step("loaded");
  out.cookie = (await context.cookies()).map(c => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }));
  out.listed = await page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id));
  await page.click("#filters-box summary");
  await page.fill("#limit", "2");
  await page.click("#search");
  await page.waitForFunction(() => document.querySelectorAll("#results li[data-id]").length === 2);
  const paged = [];
  paged.push(...await page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id)));
  while (await page.isVisible("#more")) {
    const before = paged.length;
    await page.click("#more");
    await page.waitForFunction(n => document.querySelectorAll("#results li[data-id]").length > n, before);
    paged.length = 0;
    paged.push(...await page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id)));
  }
  out.paged = paged;
  step("paged");

  // ---- search (hybrid, as the tool does) ----
  await page.fill("#limit", "10");
  await page.fill("#query", plan.query);
  await page.click("#search");
  await page.waitForFunction(() => /hit/.test(document.getElementById("summary").textContent));
  out.search = {
    ids: await page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id)),
    summary: await page.textContent("#summary"),
  };
  step("searched");

  // ---- open one memory ----
  await page.click(`#results li[data-id="${plan.open_id}"]`);
  await page.waitForSelector(`#detail[data-id="${plan.open_id}"]`);
  out.opened = {
    title: await page.textContent("#d-title"),
    content: await page.textContent("#d-content"),
    fields: await page.$$eval("#d-fields dd", dds => Object.fromEntries(dds.map(d => [d.dataset.field, d.textContent]))),
  };
  step("opened");

  // ---- edit a tag ----
  const tags = await page.inputValue("#edit-tags");
  await page.fill("#edit-tags", tags ? tags + ", " + plan.tag : plan.tag);
  await page.click("#save");
  await page.waitForFunction(tag => [...document.querySelectorAll('#d-fields dd[data-field="tags"] .chip')].some(c => c.textContent === tag), plan.tag);
  out.edited_tags = await page.$$eval('#d-fields dd[data-field="tags"] .chip', cs => cs.map(c => c.textContent));
  if (plan.screenshots) {
    await page.screenshot({ path: plan.screenshots + "/browser.png" });
  }
  // A bad value gets the server's own message, and nothing is written.
  await page.fill("#edit-priority", "high");
  await page.click("#save");
  await page.waitForSelector("#message.error");
  out.bad_priority_message = await page.textContent("#message");
  await page.click("#revert");
  step("edited");

  // ---- stored markup is shown as text, never run ----
  await page.fill("#query", "");
  await page.click("#search");
  await page.waitForSelector(`#results li[data-id="${plan.xss_id}"]`);
  await page.click(`#results li[data-id="${plan.xss_id}"]`);
  await page.waitForSelector(`#detail[data-id="${plan.xss_id}"]`);
  out.xss = {
    pwned: await page.evaluate(() => window.__pwned === 1),
    title: await page.textContent("#d-title"),
    content: await page.textContent("#d-content"),
    injected_elements: await page.$$eval("main img, main script, #results b", els => els.length),
  };
  step("xss");

  // ---- delete, with a confirmation naming the memory ----
  await page.click(`#results li[data-id="${plan.delete_id}"]`);
  await page.waitForSelector(`#detail[data-id="${plan.delete_id}"]`);
  await page.click("#delete");
  await page.waitForSelector("#confirm-delete[open]");
  out.confirm_text = await page.textContent("#confirm-text");
  await page.click("#confirm-yes");
  await page.waitForSelector(`#results li[data-id="${plan.delete_id}"]`, { state: "detached" });
  out.delete_message = await page.textContent("#message");
  step("deleted");

  // ---- filters: pinned for a role (list), then another namespace ----
  await page.fill("#query", "");
  await page.selectOption("#role", plan.role);
  await page.click("#search");
  await page.waitForFunction(() => !document.querySelector("#results li[data-id] .chip.pin") ? false :
    [...document.querySelectorAll("#results li[data-id]")].every(li => li.querySelector(".chip.pin")));
  out.pinned = await page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id));
  // A search with a role keeps the hits pinned for it.
  await page.fill("#query", plan.query);
  await page.click("#search");
  await page.waitForFunction(role => document.getElementById("summary").textContent.includes("pinned for " + role), plan.role);
  out.pinned_search = await page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id));
  await page.fill("#query", "");
  await page.selectOption("#role", "");
  out.namespaces = await page.$$eval("#namespace option", os => os.map(o => [o.value, o.dataset.memories]));
  await page.selectOption("#namespace", plan.other_namespace);
  await page.waitForSelector(`#results li[data-id="${plan.other_id}"]`);
  out.other_namespace = await page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id));
  await page.selectOption("#namespace", "default");
  await page.waitForSelector(`#results li[data-id="${plan.open_id}"]`);
  step("filtered");

  // ---- preview a bundle ----
  await page.click("#tab-bundle");
  await page.selectOption("#bundle-role", plan.role);
  await page.fill("#bundle-task", plan.task);
  await page.click("#bundle-run");
  await page.waitForSelector("#bundle-out:not([hidden])");
  out.bundle = {
    text: await page.textContent("#bundle-text"),
    meta: await page.$$eval("#bundle-meta dd", dds => Object.fromEntries(dds.map(d => [d.dataset.field, d.textContent]))),
    dropped: await page.$$eval("#bundle-dropped tr", trs => trs.map(tr => [...tr.children].map(td => td.textContent))),
  };
  step("previewed");
  if (plan.screenshots) {
    await page.screenshot({ path: plan.screenshots + "/bundle.png" });
  }

  // ---- the charts on /status, and the link between the pages ----
  await page.goto(base + "/status");
  await page.waitForFunction(() => Number(document.getElementById("history").dataset.points) > 0);
  out.browse_link = await page.getAttribute("#browse", "href");
  out.charts = await page.$$eval("#charts svg", svgs => svgs.map(s => ({
    id: s.dataset.chart,
    points: Number(s.dataset.points),
    paths: s.querySelectorAll("path, circle").length,
    threshold: s.querySelector("[data-threshold]") ? s.querySelector("[data-threshold]").dataset.threshold : null,
  })));
  await page.click("#view-all");
  await page.waitForFunction(() => /down-sampled/.test(document.getElementById("history-note").textContent));
  out.since_start_points = Number(await page.getAttribute("#history", "data-points"));
  await page.click("#view-recent");
  step("charts");
  if (plan.screenshots) {
    await page.locator("#history").screenshot({ path: plan.screenshots + "/charts.png" });
  }
  out.outside_requests = seen.filter(u => !u.startsWith(base + "/"));
  out.page_errors = errors;

  // ---- forged cross-site requests: a page elsewhere posts to the browser API ----
  // Playwright answers for the other origins itself, so nothing leaves the machine.
  out.forged = [];
  for (const origin of ["http://evil.example", "http://127.0.0.1:9"]) {
    const attacker = await context.newPage();
    await attacker.route(origin + "/**", route => route.fulfill({
      contentType: "text/html",
      body: "<!doctype html><title>attacker</title>",
    }));
    const statuses = [];
    attacker.on("response", r => { if (r.url().startsWith(base)) statuses.push(r.status()); });
    await attacker.goto(origin + "/");
    const body = JSON.stringify({ name: "delete_memory", arguments: { id: plan.open_id } });
    // A "simple" request (no preflight), with the victim's cookies and credentials.
    const fetched = await attacker.evaluate(async ([url, body]) => {
      try {
        await fetch(url, { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": "text/plain" }, body });
        return "sent";
      } catch (e) { return String(e); }
    }, [base + "/memories/api/call", body]);
    // And a plain form post, the oldest trick.
    await attacker.evaluate(([url, body]) => {
      const f = document.createElement("form");
      f.method = "POST";
      f.action = url;
      f.enctype = "text/plain";
      const i = document.createElement("input");
      i.name = body.slice(0, -1);
      i.value = "}";
      f.appendChild(i);
      document.body.appendChild(f);
      f.submit();
    }, [base + "/memories/api/call", body]);
    await attacker.waitForLoadState("load");
    await attacker.waitForTimeout(200);
    out.forged.push({ origin, fetched, statuses });
    await attacker.close();
  }
  step("forged");
}

// The second scenario (plan.scenario "lifecycle"): superseded memories hidden and shown, the
// supersede chain followed both ways, versions, expiry, and bundles as of a time.
//   PLAN_JSON: {"scenario": "lifecycle", "gone_id" (expired, superseded by old_id), "old_id",
//               "new_id", "role", "task", "as_of_before", "as_of_after", "expired_at",
//               "expires_at", "screenshots": DIR or null}
async function lifecycle({ page, seen, errors }) {
  const ids = () => page.$$eval("#results li[data-id]", lis => lis.map(li => li.dataset.id));
  const rows = () => page.$$eval("#results li[data-id]", lis => lis.map(li => ({
    id: li.dataset.id,
    superseded: li.classList.contains("superseded"),
    chips: [...li.querySelectorAll(".chip.old")].map(c => c.textContent),
  })));
  // What the detail view shows of a memory's lifecycle, once its links are named.
  const detail = async id => {
    await page.waitForSelector(`#detail[data-id="${id}"]`);
    await page.waitForFunction(() => [...document.querySelectorAll("#d-lifecycle button.link")]
      .every(b => b.textContent !== b.dataset.id));
    return page.evaluate(() => {
      const dd = key => document.querySelector(`#d-lifecycle dd[data-field="${key}"]`);
      const links = key => [...dd(key).querySelectorAll("button.link")].map(b => ({ id: b.dataset.id, text: b.textContent }));
      const until = dd("superseded_by").querySelector('[data-field="valid_until"]');
      const expiry = dd("expires_at");
      const chip = document.getElementById("d-state");
      return {
        id: document.getElementById("detail").dataset.id,
        title: document.getElementById("d-title").textContent,
        content: document.getElementById("d-content").textContent,
        state: chip.hidden ? null : chip.textContent,
        version: dd("version").textContent,
        superseded_by: links("superseded_by"),
        valid_until: until ? until.textContent : null,
        supersedes: links("supersedes"),
        supersedes_text: dd("supersedes").textContent,
        expiry: expiry ? expiry.textContent : null,
        versions: [...document.querySelectorAll("#d-versions li[data-version]")].map(li => li.dataset.version),
      };
    });
  };

  await page.goto(base + "/memories");
  await page.waitForSelector('body[data-ready="1"]');
  out.listed = await ids();
  // The toggle lets superseded memories in, marked.
  await page.check("#include-superseded");
  await page.waitForSelector(`#results li[data-id="${plan.old_id}"]`);
  out.listed_all = await rows();
  out.listed_summary = await page.textContent("#summary");
  // A search too.
  await page.fill("#query", "staging database");
  await page.selectOption("#mode", "keyword");
  await page.click("#search");
  // The list's summary also ends so: wait for the search's ("N hits, keyword search, …").
  await page.waitForFunction(() => /hits?, keyword search, superseded ones too/.test(document.getElementById("summary").textContent));
  out.searched_all = await rows();
  await page.uncheck("#include-superseded");
  await page.waitForFunction(() => /hit/.test(document.getElementById("summary").textContent) &&
    !/superseded ones too/.test(document.getElementById("summary").textContent));
  out.searched = await ids();
  await page.fill("#query", "");
  await page.check("#include-superseded");
  await page.waitForSelector(`#results li[data-id="${plan.old_id}"]`);
  step("listed");

  // The old memory points forward; follow it, then back.
  await page.click(`#results li[data-id="${plan.old_id}"]`);
  out.old = await detail(plan.old_id);
  await page.click(`#d-lifecycle dd[data-field="superseded_by"] button[data-id="${plan.new_id}"]`);
  out.new = await detail(plan.new_id);
  // Its earlier version, opened.
  await page.click('#d-versions li[data-version="1"] summary');
  out.new.version_1 = {
    summary: await page.textContent('#d-versions li[data-version="1"] summary'),
    title: await page.textContent('#d-versions li[data-version="1"] .v-title'),
    content: await page.textContent('#d-versions li[data-version="1"] .v-content'),
    visible: await page.isVisible('#d-versions li[data-version="1"] .v-content'),
  };
  if (plan.screenshots) {
    await page.screenshot({ path: plan.screenshots + "/lifecycle.png" });
  }
  await page.click(`#d-lifecycle dd[data-field="supersedes"] button[data-id="${plan.old_id}"]`);
  out.back = await detail(plan.old_id);
  // Further back, to a memory that has expired (not yet purged), and forward again.
  await page.click(`#d-lifecycle dd[data-field="supersedes"] button[data-id="${plan.gone_id}"]`);
  out.gone = await detail(plan.gone_id);
  await page.click(`#d-lifecycle dd[data-field="superseded_by"] button[data-id="${plan.old_id}"]`);
  await detail(plan.old_id);
  step("chain");

  // expires_at as a server with expiry sends it (past, future, null), put into the answers of
  // this server, which has none yet.
  let fake;
  await page.route("**/memories/api/call", async route => {
    const asked = JSON.parse(route.request().postData());
    const response = await route.fetch();
    const json = await response.json();
    if (asked.name === "get_memory" && asked.arguments.id === plan.new_id && fake !== undefined) {
      json.expires_at = fake;
    }
    await route.fulfill({ response, json });
  });
  out.expiry = [];
  for (const value of [plan.expired_at, plan.expires_at, null]) {
    fake = value;
    await page.click(`#d-lifecycle dd[data-field="superseded_by"] button[data-id="${plan.new_id}"]`);
    const shown = await detail(plan.new_id);
    out.expiry.push({ sent: value, expiry: shown.expiry, state: shown.state });
    await page.click(`#d-lifecycle dd[data-field="supersedes"] button[data-id="${plan.old_id}"]`);
    await detail(plan.old_id);
  }
  await page.unroute("**/memories/api/call");
  step("expiry");

  // Bundles as memory stood before and after the supersede.
  await page.click("#tab-bundle");
  await page.selectOption("#bundle-role", plan.role);
  await page.fill("#bundle-task", plan.task);
  out.bundles = [];
  for (const asOf of [plan.as_of_before, plan.as_of_after, ""]) {
    await page.fill("#bundle-as-of", asOf);
    await page.evaluate(() => { document.getElementById("bundle-out").hidden = true; });
    await page.click("#bundle-run");
    await page.waitForSelector("#bundle-out:not([hidden])");
    out.bundles.push({
      typed: asOf,
      as_of: await page.getAttribute("#bundle-out", "data-as-of"),
      when: await page.textContent("#bundle-when"),
      text: await page.textContent("#bundle-text"),
    });
  }
  step("bundles");
  out.outside_requests = seen.filter(u => !u.startsWith(base + "/"));
  out.page_errors = errors;
}

main().then(
  () => { process.stdout.write(JSON.stringify(out) + "\n"); },
  err => {
    process.stdout.write(JSON.stringify(out) + "\n");
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
  },
);
