//! Lambda's function names as `Invoke` takes them: `NAME[:QUALIFIER]`,
//! `ACCOUNT:function:NAME[:QUALIFIER]` or a full ARN; their parts and their full ARN.

/// A function as Lambda accepts it: `NAME[:Q]`, `ACCOUNT:function:NAME[:Q]` or a full ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub region: Option<String>,
    pub account: Option<String>,
    pub name: String,
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// The parts `function` names; what it leaves out is `None`.
    pub fn parse(function: &str) -> FunctionRef {
        let own = |s: &str| Some(s.to_string());
        let (region, account, name, qualifier) = match function.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", _, "lambda", region, account, "function", name] => (own(region), own(account), *name, None),
            ["arn", _, "lambda", region, account, "function", name, q] => (own(region), own(account), *name, own(q)),
            [account, "function", name] => (None, own(account), *name, None),
            [account, "function", name, q] => (None, own(account), *name, own(q)),
            [name, q] => (None, None, *name, own(q)),
            _ => (None, None, function, None),
        };
        FunctionRef { region, account, name: name.to_string(), qualifier }
    }
}

/// `function` (as configured) without its qualifier suffix, and that suffix: `resize:live` is
/// (`resize`, `live`), and so are the partial and full ARN forms.
pub fn split_qualifier(function: &str) -> (&str, Option<&str>) {
    match FunctionRef::parse(function).qualifier {
        Some(q) => (&function[..function.len() - q.len() - 1], Some(&function[function.len() - q.len()..])),
        None => (function, None),
    }
}

/// The full ARN of `function` (name, partial or full ARN), with `qualifier` (or the one
/// the function names) appended; `region` and `account` complete what it leaves out.
pub fn function_arn(function: &str, qualifier: Option<&str>, region: &str, account: &str) -> String {
    let f = FunctionRef::parse(function);
    let region = f.region.as_deref().unwrap_or(region);
    let account = f.account.as_deref().unwrap_or(account);
    let arn = format!("arn:aws:lambda:{region}:{account}:function:{}", f.name);
    match qualifier.or(f.qualifier.as_deref()) {
        Some(q) => format!("{arn}:{q}"),
        None => arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(region: Option<&str>, account: Option<&str>, name: &str, qualifier: Option<&str>) -> FunctionRef {
        let own = |s: Option<&str>| s.map(str::to_string);
        FunctionRef { region: own(region), account: own(account), name: name.into(), qualifier: own(qualifier) }
    }

    #[test]
    fn function_forms_lambda_accepts() {
        assert_eq!(FunctionRef::parse("resize"), function(None, None, "resize", None));
        assert_eq!(FunctionRef::parse("resize:live"), function(None, None, "resize", Some("live")));
        assert_eq!(FunctionRef::parse("123456789012:function:resize"), function(None, Some("123456789012"), "resize", None));
        assert_eq!(
            FunctionRef::parse("arn:aws:lambda:eu-west-1:123456789012:function:resize:7"),
            function(Some("eu-west-1"), Some("123456789012"), "resize", Some("7"))
        );
    }

    #[test]
    fn qualifier_suffixes_split_off() {
        assert_eq!(split_qualifier("resize"), ("resize", None));
        assert_eq!(split_qualifier("resize:live"), ("resize", Some("live")));
        assert_eq!(
            split_qualifier("arn:aws:lambda:eu-west-1:123456789012:function:resize:7"),
            ("arn:aws:lambda:eu-west-1:123456789012:function:resize", Some("7"))
        );
    }
}
