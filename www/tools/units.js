// The unit conversion tool: length, area, mass, volume, speed, time, data sizes and
// temperature. Every linear unit is a factor to its category's base unit; temperature has
// offsets, so it converts through kelvin.

/** category -> { unit symbol: [factor to the base unit, ...other names] } */
const LINEAR = {
  length: {
    m: [1, 'meter', 'meters', 'metre', 'metres'],
    km: [1e3, 'kilometer', 'kilometers', 'kilometre', 'kilometres'],
    cm: [1e-2, 'centimeter', 'centimeters', 'centimetre', 'centimetres'],
    mm: [1e-3, 'millimeter', 'millimeters', 'millimetre', 'millimetres'],
    µm: [1e-6, 'um', 'micrometer', 'micrometers', 'micron', 'microns'],
    nm: [1e-9, 'nanometer', 'nanometers'],
    mi: [1609.344, 'mile', 'miles'],
    yd: [0.9144, 'yard', 'yards'],
    ft: [0.3048, 'foot', 'feet', "'"],
    in: [0.0254, 'inch', 'inches', '"'],
    nmi: [1852, 'nautical mile', 'nautical miles'],
  },
  area: {
    'm²': [1, 'm2', 'sq m', 'square meter', 'square meters', 'square metre', 'square metres'],
    'km²': [1e6, 'km2', 'sq km', 'square kilometer', 'square kilometers'],
    'cm²': [1e-4, 'cm2', 'square centimeter', 'square centimeters'],
    ha: [1e4, 'hectare', 'hectares'],
    acre: [4046.8564224, 'acres', 'ac'],
    'ft²': [0.09290304, 'ft2', 'sq ft', 'square foot', 'square feet'],
    'mi²': [2589988.110336, 'mi2', 'sq mi', 'square mile', 'square miles'],
  },
  mass: {
    kg: [1, 'kilogram', 'kilograms', 'kilo', 'kilos'],
    g: [1e-3, 'gram', 'grams'],
    mg: [1e-6, 'milligram', 'milligrams'],
    t: [1e3, 'tonne', 'tonnes', 'metric ton', 'metric tons'],
    lb: [0.45359237, 'lbs', 'pound', 'pounds'],
    oz: [0.028349523125, 'ounce', 'ounces'],
    st: [6.35029318, 'stone', 'stones'],
  },
  volume: {
    l: [1, 'L', 'liter', 'liters', 'litre', 'litres'],
    ml: [1e-3, 'mL', 'milliliter', 'milliliters', 'millilitre', 'millilitres'],
    cl: [1e-2, 'cL', 'centiliter', 'centiliters'],
    dl: [0.1, 'dL', 'deciliter', 'deciliters'],
    'm³': [1e3, 'm3', 'cubic meter', 'cubic meters', 'cubic metre', 'cubic metres'],
    'cm³': [1e-3, 'cm3', 'cc', 'cubic centimeter', 'cubic centimeters'],
    gal: [3.785411784, 'gallon', 'gallons', 'us gallon', 'us gallons'],
    'imp gal': [4.54609, 'imperial gallon', 'imperial gallons'],
    qt: [0.946352946, 'quart', 'quarts'],
    pt: [0.473176473, 'pint', 'pints'],
    cup: [0.2365882365, 'cups'],
    'fl oz': [0.0295735295625, 'floz', 'fluid ounce', 'fluid ounces'],
    tbsp: [0.01478676478125, 'tablespoon', 'tablespoons'],
    tsp: [0.00492892159375, 'teaspoon', 'teaspoons'],
  },
  speed: {
    'm/s': [1, 'mps', 'meters per second', 'metres per second'],
    'km/h': [1 / 3.6, 'kph', 'kmh', 'kmph', 'kilometers per hour', 'kilometres per hour'],
    mph: [0.44704, 'mi/h', 'miles per hour'],
    kn: [1852 / 3600, 'kt', 'knot', 'knots'],
    'ft/s': [0.3048, 'fps', 'feet per second'],
  },
  time: {
    s: [1, 'sec', 'second', 'seconds'],
    ms: [1e-3, 'millisecond', 'milliseconds'],
    min: [60, 'minute', 'minutes'],
    h: [3600, 'hr', 'hour', 'hours'],
    day: [86400, 'd', 'days'],
    week: [604800, 'wk', 'weeks'],
    year: [31557600, 'yr', 'years'], // Julian year (365.25 days)
  },
  'data size': {
    B: [1, 'byte', 'bytes'],
    bit: [1 / 8, 'b', 'bits'],
    kB: [1e3, 'KB', 'kilobyte', 'kilobytes'],
    MB: [1e6, 'megabyte', 'megabytes'],
    GB: [1e9, 'gigabyte', 'gigabytes'],
    TB: [1e12, 'terabyte', 'terabytes'],
    PB: [1e15, 'petabyte', 'petabytes'],
    KiB: [1024, 'kibibyte', 'kibibytes'],
    MiB: [1024 ** 2, 'mebibyte', 'mebibytes'],
    GiB: [1024 ** 3, 'gibibyte', 'gibibytes'],
    TiB: [1024 ** 4, 'tebibyte', 'tebibytes'],
    kbit: [125, 'kb', 'kilobit', 'kilobits'],
    Mbit: [125e3, 'Mb', 'megabit', 'megabits'],
    Gbit: [125e6, 'Gb', 'gigabit', 'gigabits'],
  },
};

const TEMPERATURE = {
  '°C': { names: ['c', 'C', 'celsius', 'degC', 'degrees celsius', '℃'], toKelvin: (x) => x + 273.15, fromKelvin: (k) => k - 273.15 },
  '°F': { names: ['f', 'F', 'fahrenheit', 'degF', 'degrees fahrenheit', '℉'], toKelvin: (x) => ((x - 32) * 5) / 9 + 273.15, fromKelvin: (k) => ((k - 273.15) * 9) / 5 + 32 },
  K: { names: ['k', 'kelvin', 'kelvins'], toKelvin: (x) => x, fromKelvin: (k) => k },
};

/** name (exact) -> unit; `{ symbol, category, factor | temperature }` */
const byName = new Map();
/** lower-case name -> [units] (several when only case tells them apart: MB / Mb) */
const byLowerName = new Map();

function register(name, unit) {
  byName.set(name, unit);
  const lower = name.toLowerCase();
  const list = byLowerName.get(lower) ?? [];
  if (!list.includes(unit)) list.push(unit);
  byLowerName.set(lower, list);
}

for (const [category, units] of Object.entries(LINEAR)) {
  for (const [symbol, [factor, ...names]] of Object.entries(units)) {
    const unit = { symbol, category, factor };
    for (const name of [symbol, ...names]) register(name, unit);
  }
}
for (const [symbol, t] of Object.entries(TEMPERATURE)) {
  const unit = { symbol, category: 'temperature', temperature: t };
  for (const name of [symbol, ...t.names]) register(name, unit);
}

export class UnitError extends Error {
  name = 'UnitError';
}

/** The unit named `text` ("km", "Kilometers", "°F", "MiB"); throws a UnitError when unknown or ambiguous. */
export function findUnit(text) {
  const name = String(text ?? '')
    .trim()
    .replace(/\s+/g, ' ')
    .replace(/^degrees? /i, '°')
    .replace(/^deg ?/i, '°');
  if (!name) throw new UnitError('no unit given');
  const exact = byName.get(name) ?? byName.get(name.replace(/^°/, ''));
  if (exact) return exact;
  const candidates = byLowerName.get(name.toLowerCase()) ?? byLowerName.get(name.toLowerCase().replace(/^°/, '')) ?? [];
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) {
    throw new UnitError(`'${text}' is ambiguous: ${candidates.map((u) => u.symbol).join(' or ')} (letter case matters, e.g. MB is megabytes, Mb megabits)`);
  }
  throw new UnitError(`unknown unit '${text}'`);
}

/** Rounds away binary noise while keeping 12 significant digits. */
function tidy(x) {
  return x === 0 ? 0 : Number(x.toPrecision(12));
}

/** `value` in unit `from` converted to unit `to`: `{ value, from, to, result, category }`. */
export function convert(value, from, to) {
  const number = typeof value === 'string' ? Number(value.trim()) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) throw new UnitError(`'${value}' is not a number`);
  const a = findUnit(from);
  const b = findUnit(to);
  if (a.category !== b.category) {
    throw new UnitError(`cannot convert ${a.symbol} (${a.category}) to ${b.symbol} (${b.category})`);
  }
  const result = a.category === 'temperature' ? b.temperature.fromKelvin(a.temperature.toKelvin(number)) : (number * a.factor) / b.factor;
  if (a.category === 'temperature' && a.temperature.toKelvin(number) < 0) throw new UnitError(`${number} ${a.symbol} is below absolute zero`);
  return { value: number, from: a.symbol, to: b.symbol, result: tidy(result), category: a.category };
}

export const unitsTool = {
  name: 'convert_units',
  description: 'Converts a value between units of length, area, mass, volume, speed, time, data size or temperature (e.g. 5 km to mi, 100 °F to °C, 3 GiB to MB).',
  parameters: {
    type: 'object',
    properties: {
      value: { type: 'number', description: 'The amount to convert' },
      from: { type: 'string', description: "The unit of the value, e.g. 'km', 'lb', '°F', 'MiB'" },
      to: { type: 'string', description: "The unit wanted, e.g. 'mi', 'kg', '°C', 'MB'" },
    },
    required: ['value', 'from', 'to'],
  },
  run({ value, from, to }) {
    return convert(value, from, to);
  },
};
