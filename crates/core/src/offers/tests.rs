use serde_json::json;

use super::*;

fn rules(resources: &[(&str, &[&str])], prompts: &[(&str, &[&str])]) -> OfferRules {
    OfferRules {
        resources: resources
            .iter()
            .map(|(upstream, uris)| ResourceRule {
                upstream: upstream.to_string(),
                uris: uris.iter().map(|u| UriPattern::parse(u).unwrap()).collect(),
                scopes: BTreeSet::new(),
            })
            .collect(),
        prompts: prompts
            .iter()
            .map(|(upstream, names)| PromptRule {
                upstream: upstream.to_string(),
                prompts: names
                    .iter()
                    .map(|n| ToolPattern::parse(n).unwrap())
                    .collect(),
                scopes: ["docs:read".to_string()].into(),
            })
            .collect(),
    }
}

fn listing(
    upstream: &str,
    resources: &[&str],
    templates: &[&str],
    prompts: &[&str],
) -> OfferListing {
    OfferListing {
        upstream: upstream.into(),
        prefix: format!("{upstream}_"),
        resources: resources
            .iter()
            .map(|u| json!({"uri": u, "name": u}))
            .collect(),
        templates: templates
            .iter()
            .map(|t| json!({"uriTemplate": t, "name": t}))
            .collect(),
        prompts: prompts.iter().map(|p| json!({"name": p})).collect(),
    }
}

fn names(items: &[PublishedTool]) -> Vec<&str> {
    items.iter().map(|i| i.name.as_str()).collect()
}

#[test]
fn only_what_an_entry_names_is_published() {
    let offers = Offers::build(
        &rules(
            &[("docs", &["file:///pub/*", "notes://{id}"])],
            &[("docs", &["summarize"])],
        ),
        &[listing(
            "docs",
            &["file:///pub/a.md", "file:///secret/b.md"],
            &["notes://{id}", "secret://{id}"],
            &["summarize", "leak"],
        )],
    );
    assert_eq!(names(offers.resources()), ["file:///pub/a.md"]);
    let templates: Vec<&str> = offers.templates().map(|t| t.name.as_str()).collect();
    assert_eq!(templates, ["notes://{id}"]);
    assert_eq!(names(offers.prompts()), ["docs_summarize"]);
    assert_eq!(
        offers.prompt("docs_summarize").unwrap().upstream_tool,
        "summarize"
    );
    assert_eq!(
        offers.prompt("docs_summarize").unwrap().scopes,
        ["docs:read".to_string()].into()
    );
    assert!(offers.prompt("docs_leak").is_none());
    assert_eq!(
        offers.resolve("file:///secret/b.md"),
        Err(Unresolved::NotPublished)
    );
    assert_eq!(offers.resolve("secret://1"), Err(Unresolved::NotPublished));
    let read = offers.resolve("notes://42").unwrap();
    assert_eq!(
        (read.item.name.as_str(), read.upstream_name.as_str()),
        ("notes://{id}", "notes://42")
    );
    // A simple expression does not take a path.
    assert_eq!(
        offers.resolve("notes://42/../x"),
        Err(Unresolved::NotPublished)
    );
}

#[test]
fn a_uri_two_upstreams_publish_is_renamed_under_each() {
    let r = rules(&[("a", &["*"]), ("b", &["*"])], &[]);
    let offers = Offers::build(
        &r,
        &[
            listing("a", &["file:///readme.md", "a://only"], &["t://{x}"], &[]),
            listing("b", &["file:///readme.md"], &["t://{x}"], &[]),
        ],
    );
    assert_eq!(
        names(offers.resources()),
        ["a+file:///readme.md", "a://only", "b+file:///readme.md"]
    );
    let b = offers.resolve("b+file:///readme.md").unwrap();
    assert_eq!(
        (b.item.upstream.as_str(), b.upstream_name.as_str()),
        ("b", "file:///readme.md")
    );
    assert_eq!(
        offers.resolve("file:///readme.md"),
        Err(Unresolved::NotPublished)
    );
    let t = offers.resolve("a+t://7").unwrap();
    assert_eq!(
        (t.item.upstream.as_str(), t.upstream_name.as_str()),
        ("a", "t://7")
    );
    assert_eq!(
        offers.published_uri("b", "t://9").as_deref(),
        Some("b+t://9")
    );
    assert_eq!(
        offers.published_uri("a", "a://only").as_deref(),
        Some("a://only")
    );
    assert_eq!(offers.published_uri("a", "nope://x"), None);
}

#[test]
fn a_uri_matching_two_upstreams_templates_is_ambiguous() {
    let offers = Offers::build(
        &rules(&[("a", &["*"]), ("b", &["*"])], &[]),
        &[
            listing("a", &[], &["file:///{+path}"], &[]),
            listing("b", &[], &["file:///docs/{name}"], &[]),
        ],
    );
    assert_eq!(
        offers.resolve("file:///docs/x"),
        Err(Unresolved::Ambiguous(vec!["a".into(), "b".into()]))
    );
    assert_eq!(
        offers.resolve("file:///src/main.rs").unwrap().item.upstream,
        "a"
    );
}

#[test]
fn two_prompts_under_one_name_are_not_published() {
    let mut a = listing("a", &[], &[], &["p"]);
    let mut b = listing("b", &[], &[], &["p"]);
    a.prefix = String::new();
    b.prefix = String::new();
    let offers = Offers::build(&rules(&[], &[("a", &["*"]), ("b", &["*"])]), &[a, b]);
    assert!(offers.prompts().is_empty());
}

#[test]
fn template_expressions_match_what_they_expand_to() {
    let cases = [
        ("x://{id}", "x://12", true),
        ("x://{id}", "x://1/2", false),
        ("x://{id}/data", "x://12/data", true),
        ("x://{id}/data", "x://12/other", false),
        ("f://{+path}", "f://a/b/c", true),
        ("s{?q,lang}", "s?q=a&lang=b", true),
        ("s{?q}", "s", true),
        ("p{/seg}", "p/a/b", true),
        ("a.b://{x}", "aXb://1", false),
    ];
    for (template, uri, expected) in cases {
        let m = template_matcher(template).unwrap();
        assert_eq!(m.is_match(uri), expected, "{template} {uri}");
    }
    assert!(template_matcher("x://{id").is_none());
    assert!(template_matcher("x://}").is_none());
}

#[test]
fn uri_globs_cross_slashes_and_keep_braces_literal() {
    let p = UriPattern::parse("demo://resource/dynamic/*/{resourceId}").unwrap();
    assert!(p.matches("demo://resource/dynamic/text/{resourceId}"));
    assert!(!p.matches("demo://resource/dynamic/text/1"));
    let all = UriPattern::parse("file:///docs/*").unwrap();
    assert!(all.matches("file:///docs/a/b.md"));
    assert!(!all.matches("file:///etc/passwd"));
    let exact = UriPattern::parse("test://static-text").unwrap();
    assert!(exact.matches("test://static-text") && !exact.matches("test://static-textx"));
}
