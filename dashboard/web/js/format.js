// How values read on the page. Times always carry their zone.

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZoneName: 'short',
});

// zoneName is the browser's zone, e.g. "Europe/Berlin (UTC+01:00)".
export function zoneName() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  const off = -new Date().getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, '0');
  const mm = String(Math.abs(off) % 60).padStart(2, '0');
  return `${zone} (UTC${sign}${hh}:${mm})`;
}

// timeText is an ISO time in the browser's zone, with the zone.
export function timeText(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = Object.fromEntries(timeFormat.formatToParts(d).map(x => [x.type, x.value]));
  // Year first whatever the locale: 03/12 reads two ways, 2026-12-03 one.
  return `${p.year}-${p.month}-${p.day} ${p.hour === '24' ? '00' : p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
}

// time is a <time> element: the local text, the UTC instant as its
// machine value and tooltip.
export function time(iso) {
  const el = document.createElement('time');
  if (!iso) { el.textContent = '–'; return el; }
  el.dateTime = iso;
  el.title = new Date(iso).toISOString();
  el.textContent = timeText(iso);
  return el;
}

// duration is seconds as "1 h 02 min", "3 min 05 s", "4.2 s".
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const s = Number(seconds);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60), rs = Math.round(s % 60);
  if (m < 60) return `${m} min ${String(rs).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function percent(p) {
  return `${(Math.round((p || 0) * 10) / 10).toFixed(p >= 100 || p === 0 ? 0 : 1)} %`;
}

export function count(n) {
  return Number(n || 0).toLocaleString();
}

// shortID shows the end of a ULID, where ids of one moment differ.
export function shortID(id) {
  return id && id.length > 12 ? '…' + id.slice(-10) : id || '';
}

// localToRFC3339 turns a datetime-local value into RFC 3339 with the
// browser's offset.
export function localToRFC3339(v) {
  if (!v) return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return '';
  return d.toISOString();
}
