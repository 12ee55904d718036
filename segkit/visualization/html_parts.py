"""The few HTML pieces ``report.html`` is built from: escaped tables,
images and panel figures, its style sheet and the lightbox that shows a
panel full size (both inline: the page loads nothing)."""
import html
from pathlib import Path
from typing import Optional, Sequence, Tuple
from urllib.parse import quote

from .embed import thumbnail

CSS = """
body{font:14px/1.45 system-ui,sans-serif;color:#1d1d1f;background:#fff;
 max-width:1280px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}
h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;
 margin-top:32px}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;
 vertical-align:top}
th{background:#f5f5f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.cfg td{font-family:ui-monospace,monospace;font-size:12px;
 word-break:break-word}
table.cfg td:first-child{white-space:nowrap;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));
 gap:12px}
figure{margin:0}
figure.wide{grid-column:span 2}
figure img{width:100%;height:auto;border:1px solid #eee}
img.matrix{max-width:820px;width:100%;height:auto}
figcaption{font-size:12px;color:#555;word-break:break-all}
ul.confused{columns:3 260px;margin:6px 0 12px}
.muted{color:#777}
#lightbox{position:fixed;inset:0;z-index:1;display:flex;overflow:auto;
 background:rgba(0,0,0,.85);cursor:zoom-out}
#lightbox[hidden]{display:none}
#lightbox figure{margin:auto;padding:16px}
#lightbox img{display:block;max-width:none;width:auto;height:auto;
 border:0}
#lightbox figcaption{color:#ddd;font-size:13px;margin-top:6px}
#lightbox a{color:#9cf}
a.panel img{cursor:zoom-in}
"""

#: A click on a panel shows the panel's own picture (its ``src`` reused, not
#: embedded twice) at its natural size in an overlay, made at the first
#: click, with its caption and the link to the full-size file; a click or
#: Escape closes it. Without script, the panel's link opens the file.
LIGHTBOX = """<script>
(() => {
  let box, full, text, file;
  const show = (panel) => {
    if (!box) {
      box = document.createElement('div');
      box.id = 'lightbox';
      box.innerHTML = '<figure><img alt=""><figcaption><span></span> ' +
        '&middot; <a>panel file</a> (opens beside the run folder)' +
        '</figcaption></figure>';
      document.body.append(box);
      [full, text, file] = box.querySelectorAll('img, span, a');
    }
    const thumb = panel.querySelector('img');
    full.src = thumb.src;
    full.alt = thumb.alt;
    text.textContent = panel.nextElementSibling.textContent;
    file.href = panel.href;
    box.hidden = false;
  };
  document.addEventListener('click', (event) => {
    const panel = event.target.closest('a.panel');
    if (panel && !(event.button || event.ctrlKey || event.metaKey ||
                   event.shiftKey)) {
      event.preventDefault();
      show(panel);
    } else if (box && box.contains(event.target) && event.target !== file) {
      box.hidden = true;
    }
  });
  document.addEventListener('keydown', (event) => {
    if (box && event.key === 'Escape') box.hidden = true;
  });
})();
</script>"""


def table(header: Sequence[str], rows: Sequence[Sequence[str]],
          cls: str = '', numeric_from: int = 1) -> str:
    """An escaped HTML table (no header row when ``header`` is empty);
    columns from ``numeric_from`` on are right-aligned."""
    def cells(row: Sequence[str], tag: str) -> str:
        return ''.join(
            f'<{tag} class="num">{html.escape(c)}</{tag}>'
            if tag == 'td' and i >= numeric_from else
            f'<{tag}>{html.escape(c)}</{tag}>' for i, c in enumerate(row))

    body = ''.join(f'<tr>{cells(r, "td")}</tr>' for r in rows)
    head = f'<tr>{cells(header, "th")}</tr>' if header else ''
    return f'<table class="{cls}">{head}{body}</table>'


def img(src: str, alt: str, size: Optional[Tuple[int, int]] = None,
        cls: str = '') -> str:
    """An ``<img>``; ``size`` ``(width, height)`` lets the browser lay the
    page out before decoding the picture."""
    attrs = f' width="{size[0]}" height="{size[1]}"' if size else ''
    attrs += f' class="{cls}"' if cls else ''
    return f'<img src="{html.escape(src)}" alt="{html.escape(alt)}"{attrs}>'


def muted(text: str) -> str:
    return f'<p class="muted">{html.escape(text)}</p>'


def panel_figure(run_dir: Path, panel: Path, caption: str) -> str:
    """A panel's thumbnail (a data URI), captioned; a click shows it full
    size in the page's :data:`LIGHTBOX`, and its link opens the full-size
    file in the run folder.

    Args:
        run_dir: The run folder, which the page sits in.
        panel: A panel file inside ``run_dir``.
        caption: Plain text under the picture.
    """
    src, size = thumbnail(panel)
    link = html.escape(quote(panel.relative_to(run_dir).as_posix()))
    return (f'<figure><a class="panel" href="{link}">'
            f'{img(src, panel.stem, size)}</a>'
            f'<figcaption>{html.escape(caption)}</figcaption></figure>')
