"""The web chat in a real browser: headless Chromium driven by Selenium.

Run by scripts/browser-e2e.sh, which starts Parley and provides:
  PARLEY_URL        the running Parley (dev auth on, a user limit of PARLEY_TEST_RATELIMIT_USER)
  PARLEY_BIN        the parley binary (to mint an admin token for checks through the API)
  PARLEY_WORKDIR    Parley's working directory (its data/ holds the development key)
  SCREENSHOTS       where each step's screenshot goes

Steps: sign in, send "add a task to buy milk", see the streamed reply and the task in the panel,
give a thumbs-up with a comment (and find it through the admin API), reload and see the history,
switch conversations, Shift+Enter for a new line, the 429 message when the limit is hit, a
phone-sized window and the dark theme. Every step saves a screenshot.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

URL = os.environ["PARLEY_URL"].rstrip("/")
SCREENSHOTS = os.environ.get("SCREENSHOTS", "screenshots")
TENANT = "webtest"
failures = []


def check(condition, message):
    print(("PASS " if condition else "FAIL ") + message, flush=True)
    if not condition:
        failures.append(message)


def browser():
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,860",
                 "--no-first-run", "--disable-background-networking"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given, so Selenium never looks for one on the internet.
    driver = webdriver.Chrome(service=Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_page_load_timeout(20)
    return driver


def shot(driver, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    path = os.path.join(SCREENSHOTS, name + ".png")
    driver.save_screenshot(path)
    print(f"screenshot {path}", flush=True)


def wait(driver, condition, seconds=15):
    return WebDriverWait(driver, seconds).until(condition)


def visible(selector):
    return EC.visibility_of_element_located((By.CSS_SELECTOR, selector))


def text_in(selector, text):
    return EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text)


def send(driver, text):
    box = driver.find_element(By.ID, "message")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def admin(path, method="GET", body=None):
    token = subprocess.run(
        [os.environ["PARLEY_BIN"], "token", "--user", "root", "--tenant", TENANT, "--admin"],
        cwd=os.environ["PARLEY_WORKDIR"], check=True, capture_output=True, text=True).stdout.strip()
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(URL + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def sign_in(driver, user):
    driver.get(URL + "/")
    wait(driver, visible("#signin-form"))
    driver.find_element(By.ID, "signin-user").send_keys(user)
    tenant = driver.find_element(By.ID, "signin-tenant")
    tenant.clear()
    tenant.send_keys(TENANT)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    wait(driver, visible("#composer"))


def with_dev_sign_in(driver):
    """Parley as a newcomer runs it (dev auth on loopback): everything a person does in the chat."""
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    driver.get(URL + "/")
    wait(driver, visible("#signin-form"))
    shot(driver, "01-sign-in")
    sign_in(driver, alice)
    check(driver.find_element(By.ID, "who").text == alice, f"signed in as {alice}")

    # A message, streamed in, with the tool call shown inline and the task in the panel.
    send(driver, "add a task to buy milk")
    wait(driver, text_in("#messages .assistant .text", "Added task 1: Buy milk."))
    tool_line = driver.find_element(By.CSS_SELECTOR, "#messages .tool-call").text
    check("Added task 1: Buy milk" in tool_line, f"the tool call is shown inline: {tool_line!r}")
    wait(driver, text_in("#tasks", "1. Buy milk"))
    check("1. Buy milk" in driver.find_element(By.ID, "tasks").text, "the task panel shows the new task")
    shot(driver, "02-reply-and-task")

    # Thumbs up with a comment, stored and visible through the admin API.
    driver.find_element(By.CSS_SELECTOR, "#messages .assistant .rate[data-rating=up]").click()
    wait(driver, visible("#messages .feedback-comment input"))
    comment = driver.find_element(By.CSS_SELECTOR, "#messages .feedback-comment input")
    comment.send_keys("exactly right")
    comment.send_keys(Keys.ENTER)
    wait(driver, text_in("#messages .feedback", "Thanks for the feedback."))
    feedback = [f for f in admin("/api/v1/admin/feedback")["feedback"] if f.get("user") == alice]
    check(len(feedback) == 1 and feedback[0]["rating"] == "up" and feedback[0]["comment"] == "exactly right",
          f"the thumbs-up is stored: {feedback}")
    shot(driver, "03-feedback")

    # Reload: still signed in, the conversation is listed and its history comes back.
    driver.refresh()
    wait(driver, visible("#conversations .conversation"))
    driver.find_element(By.CSS_SELECTOR, "#conversations .conversation").click()
    wait(driver, text_in("#messages", "Added task 1: Buy milk."))
    check("add a task to buy milk" in driver.find_element(By.ID, "messages").text, "after a reload the history is shown")
    shot(driver, "04-history-after-reload")

    # A second conversation, then back to the first.
    driver.find_element(By.ID, "new-chat").click()
    check(driver.find_elements(By.CSS_SELECTOR, "#messages .message") == [], "a new chat starts empty")
    send(driver, "what's on my list?")
    wait(driver, text_in("#messages .assistant .text", "1. Buy milk (pending)"))
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#conversations .conversation")) == 2)
    first = driver.find_elements(By.CSS_SELECTOR, "#conversations .conversation")[-1]
    first.click()
    wait(driver, text_in("#messages", "add a task to buy milk"))
    check("what's on my list" not in driver.find_element(By.ID, "messages").text, "switching conversations shows the other history")
    shot(driver, "05-switched-conversation")

    # Several tasks in one message (one tool call each), then a bulk delete that asks first.
    driver.find_element(By.ID, "new-chat").click()
    send(driver, "add eggs, bread and jam")
    wait(driver, text_in("#messages .assistant .text", "Added task 4: Jam."))
    calls = driver.find_elements(By.CSS_SELECTOR, "#messages .assistant .tool-call")
    check(len(calls) == 3 and "Added task 2: Eggs" in calls[0].text, f"each new task is a tool call: {[c.text for c in calls]}")
    wait(driver, text_in("#tasks", "4. Jam"))
    shot(driver, "05d-several-tasks")
    send(driver, "delete everything on my list")
    wait(driver, text_in("#messages", "Reply yes to go ahead"))
    question = driver.find_elements(By.CSS_SELECTOR, "#messages .assistant .text")[-1]
    lines = question.text.split("\n")
    check(lines[0] == "That deletes 4 tasks:" and lines[1] == "1. Buy milk (pending)" and len(lines) == 6,
          f"the confirmation lists each task on its own line: {lines}")
    check("4. Jam" in driver.find_element(By.ID, "tasks").text, "nothing is deleted before the yes")
    shot(driver, "05e-bulk-delete-question")
    send(driver, "yes")
    wait(driver, text_in("#messages", "Deleted task 4: Jam."))
    wait(driver, visible("#tasks-empty"))
    shot(driver, "05f-bulk-delete-done")
    # Undo brings the four back under their numbers, each restore a tool call of its own.
    send(driver, "undo")
    wait(driver, text_in("#messages", "Restored task 1: Buy milk."))
    calls = driver.find_elements(By.CSS_SELECTOR, "#messages .assistant")[-1].find_elements(By.CSS_SELECTOR, ".tool-call")
    check(len(calls) == 4 and all(c.text.startswith("Restored task") for c in calls), f"each restore is shown: {[c.text for c in calls]}")
    wait(driver, text_in("#tasks", "4. Jam"))
    check("1. Buy milk" in driver.find_element(By.ID, "tasks").text, "the task list shows the restored tasks")
    shot(driver, "05g-undo")

    # Shift+Enter is a new line, not a send.
    box = driver.find_element(By.ID, "message")
    box.send_keys("first line")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("second line")
    check(box.get_attribute("value") == "first line\nsecond line", "Shift+Enter adds a new line")
    box.clear()

    # The chatbot switched off by an admin: the page says so, and keeps the message.
    admin("/api/v1/admin/flags", "PATCH", {"chatbot.enabled": False})
    send(driver, "add a task to call mom")
    wait(driver, text_in("#notice", "not available"))
    check("switched off" in driver.find_element(By.ID, "notice").text, f"503 explained: {driver.find_element(By.ID, 'notice').text!r}")
    check("call mom" not in driver.find_element(By.ID, "messages").text, "the refused message is not shown as sent")
    shot(driver, "05b-chatbot-off")
    admin("/api/v1/admin/flags", "PATCH", {"chatbot.enabled": None})
    driver.find_element(By.ID, "message").clear()

    # The network gone: the page says so.
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    send(driver, "add a task to call mom")
    wait(driver, text_in("#notice", "Cannot reach Parley"))
    check(True, "a lost connection is explained")
    shot(driver, "05c-offline")
    driver.set_network_conditions(offline=False, latency=0, download_throughput=-1, upload_throughput=-1)
    driver.find_element(By.ID, "message").clear()

    # Keyboard only: Tab reaches the composer's button.
    driver.find_element(By.ID, "message").send_keys(Keys.TAB)
    check(driver.switch_to.active_element.get_attribute("id") == "send", "Tab moves from the message to Send")

    # The rate limit: a clear message with the wait.
    bob = f"bob-{uuid.uuid4().hex[:6]}"
    driver.find_element(By.ID, "sign-out").click()
    sign_in(driver, bob)
    limited = False
    for n in range(40):
        send(driver, f"add a task to item {n}")
        try:
            wait(driver, lambda d: not d.find_element(By.ID, "send").get_attribute("disabled"), 10)
        except TimeoutException:
            pass
        notice = driver.find_element(By.ID, "notice")
        if notice.is_displayed() and "too fast" in notice.text:
            limited = True
            break
    notice_text = driver.find_element(By.ID, "notice").text
    check(limited and "Try again in" in notice_text, f"the 429 is explained: {notice_text!r}")
    check(driver.find_element(By.ID, "message").get_attribute("value").startswith("add a task to item"),
          "the refused message stays in the box to send again")
    shot(driver, "06-rate-limited")

    # A phone-sized window, then the dark theme.
    driver.set_window_size(390, 844)
    wait(driver, EC.invisibility_of_element_located((By.ID, "sidebar")))
    composer = driver.find_element(By.ID, "composer").rect
    check(composer["x"] >= 0 and composer["x"] + composer["width"] <= 400, f"the composer fits a phone screen: {composer}")
    check(driver.find_element(By.ID, "open-sidebar").is_displayed(), "on a phone the conversation list is behind a button")
    shot(driver, "07-phone")
    driver.find_element(By.ID, "open-sidebar").click()
    wait(driver, visible("#theme"))
    driver.find_element(By.ID, "theme").click()
    theme = driver.execute_script("return document.documentElement.dataset.theme")
    check(theme in ("dark", "light"), f"the theme button sets a theme: {theme}")
    if theme != "dark":
        driver.find_element(By.ID, "theme").click()
    driver.find_element(By.ID, "close-sidebar").click()
    wait(driver, EC.invisibility_of_element_located((By.ID, "sidebar")))
    background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    check(background == "rgb(16, 19, 24)", f"the dark theme is dark: {background}")
    shot(driver, "08-phone-dark")

    # Nothing broke on the way: the only console errors are the requests refused on purpose
    # (429, 503) and those sent while offline.
    expected = ("status of 429", "status of 503", "ERR_INTERNET_DISCONNECTED")
    errors = [entry["message"] for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE" and not any(text in entry["message"] for text in expected)]
    check(not errors, f"no errors in the browser console: {errors[:3]}")


def with_identity_provider(driver):
    """Parley with an identity provider (Tests/browser/test_idp.py) and dev auth off: the
    Authorization Code flow with PKCE, in the browser."""
    idp = os.environ["IDP_URL"]
    driver.get(URL + "/")
    wait(driver, visible("#signin-oidc"))
    check(not driver.find_element(By.ID, "signin-user").is_displayed(), "with an identity provider, no name form")
    shot(driver, "11-oidc-sign-in")
    driver.find_element(By.ID, "signin-oidc").click()
    wait(driver, visible("#idp-user"))
    check(driver.current_url.startswith(idp + "/authorize?"), f"the browser went to the identity provider: {driver.current_url[:60]}")
    check("code_challenge_method=S256" in driver.current_url, "with a PKCE challenge")
    driver.find_element(By.ID, "idp-user").send_keys("carol")
    driver.find_element(By.ID, "idp-login").click()
    wait(driver, visible("#composer"))
    check(driver.current_url.rstrip("/") == URL, f"back at Parley, the code gone from the address bar: {driver.current_url}")
    check(driver.find_element(By.ID, "who").text == "carol", "signed in as the identity provider's user")
    with urllib.request.urlopen(idp + "/stats", timeout=5) as response:
        stats = json.load(response)
    check(stats["tokens_issued"] == 1 and stats["pkce_refused"] == 0, f"the provider checked the PKCE verifier and issued one token: {stats}")
    send(driver, "add a task to water the plants")
    wait(driver, text_in("#messages .assistant .text", "Added task 1: Water the plants."))
    check("1. Water the plants" in driver.find_element(By.ID, "tasks").text, "chatting works with the provider's token")
    shot(driver, "12-oidc-signed-in")

    # A callback that does not match the sign-in this tab started is refused.
    driver.find_element(By.ID, "sign-out").click()
    driver.get(URL + "/?code=forged&state=forged")
    wait(driver, text_in("#signin-error", "could not be verified"))
    check(driver.find_element(By.ID, "app").is_displayed() is False, "a forged callback does not sign anyone in")
    shot(driver, "13-oidc-forged-callback")


def run(scenario):
    driver = browser()
    try:
        scenario(driver)
    except Exception as error:  # a failed wait: record it with a screenshot of the moment
        shot(driver, f"99-failure-{scenario.__name__}")
        failures.append(f"{type(error).__name__}: {error}")
        print(f"FAIL {type(error).__name__}: {error}", flush=True)
    finally:
        driver.quit()
    print(f"{'all passed' if not failures else str(len(failures)) + ' failed'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run(with_identity_provider if os.environ.get("IDP_URL") else with_dev_sign_in))
