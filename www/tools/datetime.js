// The date/time tool: the current date and time, in an IANA time zone or the device's own.

/** The device's time zone (IANA name). */
export function localTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** `now` in `timeZone` (default: the device's): date, time, weekday, UTC offset. */
export function currentDateTime({ timezone, now = new Date() } = {}) {
  const timeZone = timezone ? String(timezone).trim() : localTimeZone();
  let format;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
      weekday: 'long', timeZoneName: 'longOffset',
    });
  } catch {
    throw new Error(`unknown time zone '${timezone}' (use an IANA name such as 'Europe/Paris', 'America/New_York' or 'UTC')`);
  }
  const parts = Object.fromEntries(format.formatToParts(now).map((p) => [p.type, p.value]));
  // 'GMT+02:00' -> '+02:00'; plain 'GMT' is UTC itself.
  const offset = parts.timeZoneName === 'GMT' ? '+00:00' : parts.timeZoneName.replace(/^GMT/, '');
  const date = `${parts.year}-${parts.month}-${parts.day}`;
  const time = `${parts.hour}:${parts.minute}:${parts.second}`;
  return {
    timezone: format.resolvedOptions().timeZone,
    date,
    time,
    weekday: parts.weekday,
    utc_offset: offset,
    iso: `${date}T${time}${offset}`,
  };
}

export const datetimeTool = {
  name: 'get_datetime',
  description: "The current date, time and weekday, in a given IANA time zone (e.g. 'Asia/Tokyo') or the user's own.",
  parameters: {
    type: 'object',
    properties: { timezone: { type: 'string', description: "IANA time zone name, e.g. 'Europe/Paris'; leave out for the user's local time" } },
  },
  run({ timezone } = {}) {
    return currentDateTime({ timezone });
  },
};
