//! Layering guard: fails when two source files import from each other, directly or through
//! a chain (a file-level import cycle).
//!
//! Each crate of the workspace (the library, every `src/bin` tool, the `vfish` shell) is parsed
//! with `syn`. A file A depends on a file B when A names an item *defined* in B: through a
//! `use` (re-exports are followed to the defining file) or through a path in its code
//! (`crate::x::Y`, `super::Y`, `child::Y`, or a name one of A's `use`s brought in). Code under
//! `#[cfg(test)]` does not count, nor do edges from a module's root file (`lib.rs`, `main.rs`,
//! `mod.rs`, `a.rs` with an `a/` directory) down to its own descendants: facades re-export and
//! dispatch to their submodules by design. Every other edge counts, and the test fails listing
//! each strongly connected component of the remaining graph.
//!
//! Limitations (by design, to stay small): macro bodies are only looked into when they parse as
//! comma-separated expressions (`format!`, `write!`, `assert_eq!`…); `use … ::*` inside a
//! function body is ignored; local variables or generic parameters that shadow an imported name
//! can only add edges the `use` itself already added; `#[cfg(test)]` is honoured on items and
//! on `impl` functions (not `cfg(all(test, …))`, nor on statements or trait items); method calls
//! (`x.f()`) and `macro_rules!` used by textual scope add no edge.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Item, UseTree};

/// File edges `(from, to)` with the first item seen referenced across them.
type Edges = BTreeMap<(String, String), String>;

/// Names brought in by `use`: local name → path as written.
type Aliases = HashMap<String, Vec<String>>;

/// Lookups already tried while resolving one path: `(module, name, want_module)`.
type Seen = HashSet<(usize, String, bool)>;

/// What a path resolves to.
enum Def {
    /// A module (index into [`Crate::modules`]).
    Module(usize),
    /// An item named `name` defined in module `module` (so in that module's file).
    Item { module: usize, name: String },
}

/// One module: a file, or an inline `mod name { … }` inside its parent's file.
#[derive(Default)]
struct Module {
    /// The file the module's items are written in, relative to the scanned base directory.
    file: String,
    /// The enclosing module; `None` for the crate root.
    parent: Option<usize>,
    /// Where `mod x;` of this module finds `x.rs` or `x/mod.rs`.
    child_dir: PathBuf,
    /// Child modules by name.
    children: HashMap<String, usize>,
    /// Names of the items defined here (other than modules).
    items: HashSet<String>,
    /// `use` imports by local name.
    uses: Aliases,
    /// `use path::*` imports.
    globs: Vec<Vec<String>>,
    /// The module's non-test items, for collecting references.
    body: Vec<Item>,
}

/// A crate's module tree; module 0 is the root.
#[derive(Default)]
struct Crate {
    modules: Vec<Module>,
    /// File → the module that file is (inline modules share their parent's file).
    file_owner: HashMap<String, usize>,
}

/// One leaf of a `use` tree: the full path, the name it binds (`None` for `as _`), and whether
/// it is a glob.
struct UseLeaf {
    path: Vec<String>,
    alias: Option<String>,
    glob: bool,
}

/// Whether the attributes hold `#[cfg(test)]`.
fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("cfg") && a.parse_args::<syn::Path>().is_ok_and(|p| p.is_ident("test")))
}

/// The attributes of an item (none for the kinds never found under `#[cfg(test)]` alone).
fn item_attrs(item: &Item) -> &[syn::Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The name an item defines, if any (modules and `use`s are handled separately).
fn item_name(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Macro(i) => i.ident.as_ref()?,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::TraitAlias(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

/// Flattens a `use` tree into its leaves, `prefix` being the path above `tree`.
fn use_leaves(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    let leaf = |prefix: &[String], ident: &syn::Ident, alias: &syn::Ident| {
        let mut path = prefix.to_vec();
        if ident != "self" {
            path.push(ident.to_string());
        }
        let alias = if alias == "self" { path.last().cloned() } else { Some(alias.to_string()) };
        UseLeaf { path, alias: alias.filter(|a| a != "_"), glob: false }
    };
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => out.push(leaf(prefix, &n.ident, &n.ident)),
        UseTree::Rename(r) => out.push(leaf(prefix, &r.ident, &r.rename)),
        UseTree::Glob(_) => out.push(UseLeaf { path: prefix.clone(), alias: None, glob: true }),
        UseTree::Group(g) => g.items.iter().for_each(|t| use_leaves(t, prefix, out)),
    }
}

/// The leaves of a `use` item; none for `use ::extern_crate::…`.
fn item_use_leaves(u: &syn::ItemUse) -> Vec<UseLeaf> {
    let mut out = Vec::new();
    if u.leading_colon.is_none() {
        use_leaves(&u.tree, &mut Vec::new(), &mut out);
    }
    out
}

impl Crate {
    /// Reads the crate whose root file is `root` (relative to `base`), following `mod x;`.
    fn load(base: &Path, root: &str) -> Crate {
        let mut krate = Crate::default();
        let dir = Path::new(root).parent().expect("crate root is in a directory").to_path_buf();
        krate.add_file(base, root.to_string(), None, "crate", dir);
        krate
    }

    /// Adds an empty module named `name` under `parent`, returning its index.
    fn new_module(&mut self, name: &str, parent: Option<usize>, file: String, child_dir: PathBuf) -> usize {
        let id = self.modules.len();
        self.modules.push(Module { file, parent, child_dir, ..Module::default() });
        if let Some(p) = parent {
            self.modules[p].children.insert(name.to_string(), id);
        }
        id
    }

    /// Parses `file` and adds it as module `name` under `parent`.
    fn add_file(&mut self, base: &Path, file: String, parent: Option<usize>, name: &str, child_dir: PathBuf) {
        let text = std::fs::read_to_string(base.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let id = self.new_module(name, parent, file.clone(), child_dir);
        self.file_owner.insert(file, id);
        self.add_items(base, id, ast.items);
    }

    /// Registers the non-test `items` of module `id`: names, `use`s, child modules.
    fn add_items(&mut self, base: &Path, id: usize, items: Vec<Item>) {
        for item in items.into_iter().filter(|i| !is_cfg_test(item_attrs(i))) {
            match item {
                Item::Mod(m) => self.add_child(base, id, m),
                Item::Use(ref u) => {
                    let module = &mut self.modules[id];
                    for leaf in item_use_leaves(u) {
                        if leaf.glob {
                            module.globs.push(leaf.path);
                        } else if let Some(alias) = leaf.alias {
                            module.uses.insert(alias, leaf.path);
                        }
                    }
                    module.body.push(item);
                }
                other => {
                    if let Some(name) = item_name(&other) {
                        self.modules[id].items.insert(name);
                    }
                    self.modules[id].body.push(other);
                }
            }
        }
    }

    /// Adds the child module `m` of module `id`: inline, or from `x.rs` / `x/mod.rs`.
    fn add_child(&mut self, base: &Path, id: usize, m: syn::ItemMod) {
        let name = m.ident.to_string();
        let dir = self.modules[id].child_dir.join(&name);
        match m.content {
            Some((_, items)) => {
                let file = self.modules[id].file.clone();
                let child = self.new_module(&name, Some(id), file, dir);
                self.add_items(base, child, items);
            }
            None => {
                let flat = self.modules[id].child_dir.join(format!("{name}.rs"));
                let path = if base.join(&flat).exists() { flat } else { dir.join("mod.rs") };
                self.add_file(base, path.to_string_lossy().into_owned(), Some(id), &name, dir);
            }
        }
    }

    /// Resolves `segs`, written in module `from`; `locals` are function-level `use`s there.
    /// `want_module` prefers a module over a same-named function for the last segment.
    fn resolve(&self, from: usize, segs: &[String], want_module: bool, locals: Option<&Aliases>) -> Option<Def> {
        self.resolve_in(from, segs, want_module, locals, &mut HashSet::new())
    }

    /// [`Crate::resolve`] with the lookups already tried (which breaks `use` loops).
    fn resolve_in(&self, from: usize, segs: &[String], want_module: bool, locals: Option<&Aliases>, seen: &mut Seen) -> Option<Def> {
        let (mut def, rest) = match segs.first()?.as_str() {
            "crate" => (Def::Module(0), &segs[1..]),
            "self" => (Def::Module(from), &segs[1..]),
            "super" => {
                let supers = segs.iter().take_while(|s| *s == "super").count();
                let mut m = from;
                for _ in 0..supers {
                    m = self.modules[m].parent?;
                }
                (Def::Module(m), &segs[supers..])
            }
            first => {
                let want = segs.len() > 1 || want_module;
                let def = match self.lookup(from, first, want, seen) {
                    Some(d) => d,
                    None => self.resolve_in(from, locals?.get(first)?, want, None, seen)?,
                };
                (def, &segs[1..])
            }
        };
        for (i, seg) in rest.iter().enumerate() {
            let want = i + 1 < rest.len() || want_module;
            def = match def {
                Def::Module(m) => self.lookup(m, seg, want, seen)?,
                // A variant or an associated item: the path depends on the type's file.
                item @ Def::Item { .. } => return Some(item),
            };
        }
        Some(def)
    }

    /// Looks `name` up in module `m`: its items, child modules, `use`s and globs.
    /// Explicit names shadow globs; `want_module` decides between a module and a function.
    fn lookup(&self, m: usize, name: &str, want_module: bool, seen: &mut Seen) -> Option<Def> {
        if !seen.insert((m, name.to_string(), want_module)) {
            return None;
        }
        let module = &self.modules[m];
        let item = module.items.contains(name).then(|| Def::Item { module: m, name: name.to_string() });
        let child = module.children.get(name).map(|&c| Def::Module(c));
        let direct = if want_module { child.or(item) } else { item };
        if direct.is_some() {
            return direct;
        }
        if let Some(d) = module.uses.get(name).and_then(|p| self.resolve_in(m, p, want_module, None, seen)) {
            return Some(d);
        }
        if let Some(c) = module.children.get(name) {
            return Some(Def::Module(*c));
        }
        module.globs.iter().find_map(|glob| match self.resolve_in(m, glob, true, None, seen)? {
            Def::Module(g) => self.lookup(g, name, want_module, seen),
            Def::Item { .. } => None, // `use Enum::*`: the `use` itself is the edge.
        })
    }

    /// Whether `to`'s file is a descendant module of `from`'s file (a facade edge).
    fn is_descendant(&self, from: &str, to: &str) -> bool {
        let (Some(&owner), Some(&target)) = (self.file_owner.get(from), self.file_owner.get(to)) else {
            return false;
        };
        std::iter::successors(self.modules[target].parent, |&p| self.modules[p].parent).any(|p| p == owner)
    }

    /// Adds the crate's file edges to `edges` (no self-loops, no facade edges).
    fn collect_edges(&self, edges: &mut Edges) {
        for (id, module) in self.modules.iter().enumerate() {
            let mut refs = RefCollector { krate: self, module: id, locals: Aliases::new(), found: Vec::new() };
            module.body.iter().for_each(|item| refs.visit_item(item));
            for (def_module, name) in refs.found {
                let to = &self.modules[def_module].file;
                if *to != module.file && !self.is_descendant(&module.file, to) {
                    edges.entry((module.file.clone(), to.clone())).or_insert(name);
                }
            }
        }
    }
}

/// Walks one module's non-test code, resolving every path and `use` to a defining module.
struct RefCollector<'a> {
    krate: &'a Crate,
    module: usize,
    /// `use`s met inside function bodies (scoped loosely: for the rest of the module).
    locals: Aliases,
    /// `(defining module, item name)` of every resolved reference.
    found: Vec<(usize, String)>,
}

impl RefCollector<'_> {
    /// Records the item `segs` names, if it is one of this crate's.
    fn reference(&mut self, segs: &[String], want_module: bool) {
        if let Some(Def::Item { module, name }) = self.krate.resolve(self.module, segs, want_module, Some(&self.locals)) {
            self.found.push((module, name));
        }
    }
}

impl<'ast> Visit<'ast> for RefCollector<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        // Modules are walked on their own; test code does not count.
        if !matches!(item, Item::Mod(_)) && !is_cfg_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        for leaf in item_use_leaves(u) {
            self.reference(&leaf.path, leaf.glob);
            if let (Some(alias), false) = (leaf.alias, leaf.glob) {
                self.locals.entry(alias).or_insert(leaf.path);
            }
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            visit::visit_impl_item_fn(self, f);
        }
    }

    /// Attribute paths (`#[error(…)]`, `#[derive(…)]`) are not references.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.reference(&segs, false);
        }
        visit::visit_path(self, path);
    }

    /// Macro arguments are walked when they parse as comma-separated expressions.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        if let Ok(args) = mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated) {
            args.iter().for_each(|e| self.visit_expr(e));
        }
    }
}

/// The crate roots under `base`: the library, each `src/bin` tool and the `vfish` shell.
fn crate_roots(base: &Path) -> Vec<String> {
    let mut roots = vec!["src/lib.rs".to_string(), "shell/src/main.rs".to_string()];
    let bins = std::fs::read_dir(base.join("src/bin")).expect("src/bin is readable");
    let mut bins: Vec<String> = bins
        .map(|e| e.expect("src/bin entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs"))
        .map(|name| format!("src/bin/{name}"))
        .collect();
    bins.sort();
    roots.extend(bins);
    roots
}

/// The edges of every crate whose root file (relative to `base`) is in `roots`.
fn scan(base: &Path, roots: &[String]) -> Edges {
    let mut edges = Edges::new();
    for root in roots {
        Crate::load(base, root).collect_edges(&mut edges);
    }
    edges
}

/// The strongly connected components of more than one file.
fn cycles(edges: &Edges) -> Vec<BTreeSet<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let reachable: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|n| (*n, reach(&next, n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for (n, from_n) in &reachable {
        if done.contains(*n) {
            continue;
        }
        let scc: BTreeSet<String> = from_n.iter().filter(|m| reachable[*m].contains(n)).map(|m| m.to_string()).collect();
        done.extend(scc.iter().cloned());
        if scc.len() > 1 {
            out.push(scc);
        }
    }
    out
}

/// The nodes reachable from `start` by one edge or more (`start` itself only on a cycle).
fn reach<'a>(next: &BTreeMap<&'a str, Vec<&'a str>>, start: &'a str) -> BTreeSet<&'a str> {
    let (mut seen, mut todo) = (BTreeSet::new(), vec![start]);
    while let Some(n) = todo.pop() {
        todo.extend(next[n].iter().filter(|m| seen.insert(**m)));
    }
    seen
}

/// The failure message: each cycle's files and one referenced item per edge inside it.
fn describe(edges: &Edges, sccs: &[BTreeSet<String>]) -> String {
    let mut msg = format!(
        "{} file-level import cycle(s). Break each by moving the shared item down into a module \
         both files can use (or by inverting the dependency):\n",
        sccs.len()
    );
    for (i, scc) in sccs.iter().enumerate() {
        let files: Vec<&str> = scc.iter().map(String::as_str).collect();
        msg += &format!("\ncycle {}: {}\n", i + 1, files.join(", "));
        for ((from, to), item) in edges.iter().filter(|((f, t), _)| scc.contains(f) && scc.contains(t)) {
            msg += &format!("  {from} -> {to} ({item})\n");
        }
    }
    msg
}

#[test]
fn no_file_level_import_cycles() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let edges = scan(base, &crate_roots(base));
    let sccs = cycles(&edges);
    assert!(sccs.is_empty(), "{}", describe(&edges, &sccs));
}

/// Writes a synthetic crate (`(path, source)` pairs) to a temporary directory and scans it
/// from `src/lib.rs`.
fn scan_synthetic(files: &[(&str, &str)]) -> Edges {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (path, source) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("file in a directory")).expect("create dirs");
        std::fs::write(&path, source).expect("write source");
    }
    scan(dir.path(), &["src/lib.rs".to_string()])
}

/// The files of each cycle, for comparing in the tests below.
fn cycle_files(edges: &Edges) -> Vec<Vec<String>> {
    cycles(edges).into_iter().map(|s| s.into_iter().collect()).collect()
}

#[test]
fn sibling_cycle_is_found() {
    let edges = scan_synthetic(&[
        ("src/lib.rs", "mod a; mod b;"),
        ("src/a.rs", "use crate::b::B; pub struct A(B);"),
        ("src/b.rs", "pub struct B; pub fn f() -> super::a::A { todo!() }"),
    ]);
    assert_eq!(cycle_files(&edges), [["src/a.rs", "src/b.rs"]]);
    assert_eq!(edges[&("src/b.rs".into(), "src/a.rs".into())], "A");
    assert!(describe(&edges, &cycles(&edges)).contains("src/a.rs -> src/b.rs (B)"));
}

#[test]
fn facade_reexport_and_child_to_parent_use_is_no_cycle() {
    let edges = scan_synthetic(&[
        ("src/lib.rs", "mod m;"),
        ("src/m/mod.rs", "mod child; pub use child::C; pub struct Shared; fn g() { child::f() }"),
        ("src/m/child.rs", "use super::Shared; pub struct C(Shared); pub fn f() {}"),
    ]);
    assert!(cycles(&edges).is_empty(), "{edges:?}");
    assert!(edges.contains_key(&("src/m/child.rs".into(), "src/m/mod.rs".into())));
}

#[test]
fn reexport_chain_is_followed_to_the_defining_file() {
    let edges = scan_synthetic(&[
        ("src/lib.rs", "mod a; mod b; mod c; pub use b::Deep;"),
        ("src/a.rs", "use crate::Deep; fn f(_: Deep) {}"),
        ("src/b.rs", "pub use crate::c::Deep;"),
        ("src/c.rs", "pub enum Deep { V } fn g() { let _ = crate::a::f; }"),
    ]);
    let pairs: Vec<(&str, &str)> = edges.keys().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    assert_eq!(pairs, [("src/a.rs", "src/c.rs"), ("src/b.rs", "src/c.rs"), ("src/c.rs", "src/a.rs")]);
    assert_eq!(cycle_files(&edges), [["src/a.rs", "src/c.rs"]]);
}

#[test]
fn cfg_test_code_is_ignored() {
    let edges = scan_synthetic(&[
        ("src/lib.rs", "mod a; mod b;"),
        ("src/a.rs", "use crate::b::B; pub struct A(B);"),
        (
            "src/b.rs",
            "pub struct B;
             #[cfg(test)] fn helper() -> crate::a::A { todo!() }
             impl B { #[cfg(test)] fn t(&self) { let _ = super::a::A; } }
             #[cfg(test)] mod tests { use crate::a::A; }",
        ),
    ]);
    assert!(cycles(&edges).is_empty(), "{edges:?}");
}
