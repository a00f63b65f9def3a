// The commit graph: lanes assigned as `git log --graph` does, drawn as one SVG beside the rows.
// A lane waits for the commit it expects; a merge opens a lane for its second parent; lanes
// that expect the same commit meet at it.

const SVG = 'http://www.w3.org/2000/svg';
export const ROW = 44;
const LANE = 16;
const PAD = 12;
const COLORS = ['#1d6fd1', '#d1495b', '#2a9d8f', '#e9a23b', '#7b4fbf', '#5c7c2f', '#c0567e', '#3d8fb5'];

export function layout(commits) {
  const lanes = [];
  const rows = [];
  for (const c of commits) {
    let col = lanes.indexOf(c.id);
    if (col === -1) {
      col = lanes.indexOf(null);
      if (col === -1) {
        col = lanes.length;
        lanes.push(null);
      }
    }
    for (let j = 0; j < lanes.length; j += 1) if (j !== col && lanes[j] === c.id) lanes[j] = null;
    const parents = c.parents || [];
    lanes[col] = parents[0] || null;
    const parentCols = parents.length ? [col] : [];
    for (const parent of parents.slice(1)) {
      let j = lanes.indexOf(parent);
      if (j === -1) {
        j = lanes.indexOf(null);
        if (j === -1) {
          j = lanes.length;
          lanes.push(null);
        }
        lanes[j] = parent;
      }
      parentCols.push(j);
    }
    while (lanes.length && lanes[lanes.length - 1] === null) lanes.pop();
    rows.push({ commit: c, col, after: lanes.slice(), parentCols });
  }
  return rows;
}

function x(lane) {
  return PAD + lane * LANE;
}

function y(row) {
  return row * ROW + ROW / 2;
}

function el(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export function width(rows) {
  const lanes = rows.reduce((m, r) => Math.max(m, r.after.length, r.col + 1), 1);
  return PAD * 2 + (lanes - 1) * LANE;
}

// `more`: there are older commits not loaded yet (lanes run off the bottom).
export function draw(rows, more) {
  const w = width(rows);
  const svg = el('svg', { width: w, height: rows.length * ROW, class: 'graph', 'aria-hidden': 'true' });
  rows.forEach((row, i) => {
    const next = rows[i + 1];
    row.after.forEach((expected, j) => {
      if (expected === null) return;
      const fromLane = row.parentCols.includes(j) ? row.col : j;
      const x1 = x(fromLane);
      const y1 = y(i);
      let x2;
      let y2;
      if (next) {
        x2 = next.commit.id === expected ? x(next.col) : x(j);
        y2 = y(i + 1);
      } else {
        x2 = x(j);
        y2 = y(i) + ROW / 2;
      }
      const mid = (y1 + y2) / 2;
      const d = x1 === x2 ? `M${x1} ${y1} L${x2} ${y2}` : `M${x1} ${y1} C${x1} ${mid} ${x2} ${mid} ${x2} ${y2}`;
      svg.append(el('path', {
        d, fill: 'none', stroke: COLORS[j % COLORS.length], 'stroke-width': 2,
        'stroke-dasharray': !next && !more ? '3 3' : 'none',
      }));
    });
  });
  rows.forEach((row, i) => {
    const merge = (row.commit.parents || []).length > 1;
    svg.append(el('circle', {
      cx: x(row.col), cy: y(i), r: merge ? 6 : 5,
      fill: merge ? '#fff' : COLORS[row.col % COLORS.length],
      stroke: COLORS[row.col % COLORS.length], 'stroke-width': 2.5,
    }));
  });
  return svg;
}
