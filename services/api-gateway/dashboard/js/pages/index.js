// The dashboard's pages, in the order of the navigation.  Each module is
// `export default { id, title, render(root, params) -> cleanup? }`.
// One import per line, so that pages added at once merge cleanly.

export default [
];
