/*
 * objcast.mjs: the bridge as an ES module.
 *
 *   import objcast, { connect } from 'https://objcast.example.com/objcast.mjs';
 *
 * The code lives in objcast.js, a classic script written to run as a module too: importing
 * it for its side effect defines globalThis.objcast (once, even if the page also loaded it
 * with a <script> tag), and this module re-exports it. See docs/plugins.md.
 */
import './objcast.js';

const objcast = globalThis.objcast;

export const { connect, Client, PLUGIN_TYPES, version } = objcast;
export default objcast;
