// A sign-in page reached from another site looks again, once, from here:
// the browser sends the Strict session cookie on this same-site navigation.
(function () {
  if (document.body && document.body.hasAttribute("data-recheck")) {
    var u = new URL(location.href);
    u.searchParams.set("recheck", "1");
    location.replace(u.toString());
  }
})();
// Deadlines count down in place: "剩余 1小时20分", "剩余 30天13小时" or "已超时 5分".
(function () {
  function text(ms) {
    var m = Math.floor(Math.abs(ms) / 60000), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d > 0) {
      return d + "天" + (h % 24 > 0 ? (h % 24) + "小时" : "");
    }
    return (h > 0 ? h + "小时" : "") + (m % 60) + "分";
  }
  function tick() {
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var left = Date.parse(el.dataset.deadline) - Date.now();
      el.textContent = left >= 0 ? "剩余 " + text(left) : "已超时 " + text(left);
      el.classList.toggle("over", left < 0);
    });
  }
  tick();
  setInterval(tick, 30000);
})();
