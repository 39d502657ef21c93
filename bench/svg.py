"""Small hand-written SVG charts (no plotting dependency): grouped bars with reference lines."""
from html import escape

PALETTE = ["#1f5aa6", "#e07b1a", "#3a9a4a", "#b8323a", "#7a4fa0", "#6b6b6b"]
WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 48, 70


def _nice_max(value):
    if value <= 0:
        return 1
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def grouped_bars(title, groups, series, values, y_label, lines=(), value_format="{:.0f}"):
    """``values[s][g]`` is the bar of series ``s`` in group ``g`` (None: no bar).
    ``lines`` are (label, y, colour) horizontal reference lines."""
    top_value = max([v for row in values for v in row if v is not None] + [y for _, y, _ in lines] + [1])
    y_max = _nice_max(top_value * 1.08)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for i in range(6):  # grid and y axis labels
        y_value = y_max * i / 5
        y = TOP + plot_h - plot_h * i / 5
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{y_value:g}</text>')
    out.append(f'<text transform="translate(16 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle" '
               f'fill="#444">{escape(y_label)}</text>')
    group_w = plot_w / max(1, len(groups))
    bar_w = group_w * 0.8 / max(1, len(series))
    for g, group in enumerate(groups):
        x0 = LEFT + g * group_w + group_w * 0.1
        for s in range(len(series)):
            value = values[s][g]
            if value is None:
                continue
            h = plot_h * value / y_max
            x = x0 + s * bar_w
            y = TOP + plot_h - h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE[s % len(PALETTE)]}"/>')
            out.append(f'<text x="{x + bar_w / 2 - 1:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="10" '
                       f'fill="#222">{escape(value_format.format(value))}</text>')
        out.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
                   f'{escape(group)}</text>')
    for index, (label, y_value, colour) in enumerate(sorted(lines, key=lambda line: -line[1])):
        y = TOP + plot_h - plot_h * y_value / y_max
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                   f'stroke-width="2" stroke-dasharray="6 4"/>')
        # Labels alternate right / left so that lines close together stay readable.
        x, anchor = (WIDTH - RIGHT - 4, "end") if index % 2 == 0 else (LEFT + 4, "start")
        out.append(f'<text x="{x}" y="{y - 5:.1f}" text-anchor="{anchor}" fill="{colour}" '
                   f'stroke="white" stroke-width="3" paint-order="stroke">{escape(label)}</text>')
    legend_x = LEFT
    for s, name in enumerate(series):
        y = HEIGHT - 22
        out.append(f'<rect x="{legend_x}" y="{y - 10}" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{legend_x + 16}" y="{y}">{escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    out.append("</svg>")
    return "\n".join(out) + "\n"
