//! The login form (asked when the console runs with users).

use crate::console::html::{input, Flash};
use crate::console::routes::Reply;

/// The form, with why the last try failed.
pub fn show(flash: Option<Flash>) -> Reply {
    let body = format!(
        "<form method=\"post\" action=\"/login\" class=\"action\" id=\"login-form\">{}{}\
         <button type=\"submit\" id=\"login-submit\">Log in</button></form>",
        input("username", "User", "", "autocomplete=\"username\""),
        input(
            "password",
            "Password",
            "",
            "type=\"password\" autocomplete=\"current-password\""
        ),
    );
    Reply::page("Log in", "", body, flash)
}
