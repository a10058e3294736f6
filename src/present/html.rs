//! One escaping writer for every page: text always goes in escaped, and the only raw path is
//! canarybot's own markup — a string literal (the `html!` template, checked at compile time to
//! have positional holes only) or `Html::raw` of a `&'static str`. A value from outside cannot
//! reach the page unescaped, so one forgotten call cannot become stored XSS.

use std::fmt::{self, Write as _};

/// HTML that is safe to send as it is: built only from static markup and escaped values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Html(String);

impl Html {
    pub fn new() -> Html {
        Html::default()
    }

    /// Markup of our own. `'static` keeps text read at run time out.
    pub fn raw(markup: &'static str) -> Html {
        Html(markup.to_string())
    }

    /// Escaped text.
    pub fn text(text: &str) -> Html {
        let mut out = Html::new();
        out.push(text);
        out
    }

    /// Appends a value: text escaped, numbers as they are, `Html` as it is.
    pub fn push(&mut self, value: impl Markup) -> &mut Html {
        value.write_markup(&mut self.0);
        self
    }

    /// Appends markup of our own.
    pub fn push_raw(&mut self, markup: &'static str) -> &mut Html {
        self.0.push_str(markup);
        self
    }

    /// Used by `html!`: the template is a literal and every hole is wrapped in [`Hole`].
    #[doc(hidden)]
    pub fn push_template(&mut self, args: fmt::Arguments<'_>) {
        let _ = self.0.write_fmt(args);
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Html {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Anything that may go into a page, and how.
pub trait Markup {
    fn write_markup(&self, out: &mut String);
}

impl Markup for str {
    fn write_markup(&self, out: &mut String) {
        escape_into(self, out);
    }
}

impl Markup for String {
    fn write_markup(&self, out: &mut String) {
        escape_into(self, out);
    }
}

impl Markup for Html {
    fn write_markup(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

impl<T: Markup + ?Sized> Markup for &T {
    fn write_markup(&self, out: &mut String) {
        (**self).write_markup(out);
    }
}

macro_rules! numbers_as_they_are {
    ($($t:ty),*) => {$(
        impl Markup for $t {
            fn write_markup(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
numbers_as_they_are!(i64, u32, u64, usize, f64);

/// One hole of an `html!` template: writes its value the way [`Markup`] says.
#[doc(hidden)]
pub struct Hole<'a, T: Markup + ?Sized>(pub &'a T);

impl<T: Markup + ?Sized> fmt::Display for Hole<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.0.write_markup(&mut out);
        f.write_str(&out)
    }
}

/// True when every `{…}` of a template is a bare `{}`: a named hole (`{name}`) would be filled by
/// `format_args!` itself, around the escaping.
#[doc(hidden)]
pub const fn bare_holes_only(template: &str) -> bool {
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' {
            if i + 1 < b.len() && b[i + 1] == b'{' {
                i += 2;
                continue;
            }
            if !(i + 1 < b.len() && b[i + 1] == b'}') {
                return false;
            }
        }
        i += 1;
    }
    true
}

/// Appends a template to an [`Html`]: `html!(out, "<td class=\"x\">{}</td>", value)`. The
/// template is markup of our own; each `{}` takes a [`Markup`] value (text is escaped).
#[macro_export]
macro_rules! html {
    ($out:expr, $template:literal $(, $arg:expr)* $(,)?) => {{
        const _: () = assert!(
            $crate::present::html::bare_holes_only($template),
            "html!: only bare `{{}}` holes; pass values as arguments so they are escaped"
        );
        $out.push_template(format_args!($template $(, $crate::present::html::Hole(&$arg))*));
    }};
}

/// HTML-escapes text (& < > " ').
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(s, &mut out);
    out
}

fn escape_into(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_markup_of_our_own_is_not() {
        let mut out = Html::new();
        let name = "<script>alert('x')</script> & \"co\"";
        html!(out, "<td data-x=\"{}\">{}</td>", name, 3u32);
        assert_eq!(
            out.as_str(),
            "<td data-x=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;\">3</td>"
        );
        let mut inner = Html::new();
        html!(inner, "<code>{}</code>", "a<b");
        let mut outer = Html::raw("<p>");
        outer.push(&inner).push("</p>").push_raw("</p>");
        assert_eq!(outer.as_str(), "<p><code>a&lt;b</code>&lt;/p&gt;</p>");
    }

    #[test]
    fn templates_with_named_holes_are_refused() {
        assert!(bare_holes_only("<td>{}</td>{{literal}}"));
        assert!(!bare_holes_only("<td>{name}</td>"));
        assert!(!bare_holes_only("<td>{0}</td>"));
        assert!(!bare_holes_only("<td>{:?}</td>"));
    }
}
